/*
 * ansi.h - terminal escape sequences in log lines (issue #14's `ansi=strip`).
 *
 * Build logs carry colours and styles as ANSI/ECMA-48 escape sequences. Where the reader is not
 * a terminal (a file, a grep, a JSON consumer that wants plain text) they are noise: stripping
 * removes every CSI sequence (ESC [ parameters intermediates final: SGR colours, cursor moves),
 * every OSC sequence (ESC ] … ended by BEL or ESC \: titles, hyperlinks) and every other escape
 * sequence (ESC, intermediates, a final byte: ESC ( B, ESC =), and leaves all other bytes (UTF-8
 * text included) as they are. A
 * sequence cut off at the end of the line is removed up to the end.
 */
#ifndef FG_EVENTS_ANSI_H
#define FG_EVENTS_ANSI_H

#include <stddef.h>

/** Removes the escape sequences from s (len bytes) in place; returns the new length. */
size_t fg_ansi_strip(char *s, size_t len);

#endif
