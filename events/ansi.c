/*
 * ansi.c - terminal escape sequences stripped from log lines (ansi.h).
 */
#include "events/ansi.h"

#define ESC 0x1b
#define BEL 0x07

size_t fg_ansi_strip(char *s, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        unsigned char c = (unsigned char)s[r];
        if (c != ESC) {
            s[w++] = s[r++];
            continue;
        }
        if (r + 1 >= len) /* a lone ESC at the end */
            break;
        unsigned char k = (unsigned char)s[r + 1];
        r += 2;
        if (k == '[') { /* CSI: parameters and intermediates (0x20-0x3f), then a final byte */
            while (r < len && (unsigned char)s[r] >= 0x20 && (unsigned char)s[r] <= 0x3f)
                r++;
            if (r < len && (unsigned char)s[r] >= 0x40 && (unsigned char)s[r] <= 0x7e)
                r++;
        } else if (k == ']') { /* OSC: up to BEL or ESC \ */
            while (r < len && (unsigned char)s[r] != BEL &&
                   !((unsigned char)s[r] == ESC && r + 1 < len && s[r + 1] == '\\'))
                r++;
            if (r < len)
                r += (unsigned char)s[r] == BEL ? 1 : 2;
        } else { /* ESC, intermediates (0x20-0x2f), a final byte: ESC ( B, ESC =, ESC 7 … */
            r -= 1;
            while (r < len && (unsigned char)s[r] >= 0x20 && (unsigned char)s[r] <= 0x2f)
                r++;
            if (r < len && (unsigned char)s[r] >= 0x30 && (unsigned char)s[r] <= 0x7e)
                r++;
        }
    }
    return w;
}
