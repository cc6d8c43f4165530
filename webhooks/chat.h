/*
 * chat.h - webhook bodies a person can read: a Slack incoming-webhook message (`text` plus
 * Block Kit blocks) or a Discord webhook message (`content` plus one embed), made from a stored
 * event. The run, workflow, status or approval message are shown; with a console URL, a link to
 * the run. Lengths stay within what those services accept (Slack: 3,000 characters per section
 * text; Discord: 256 per title, 4,096 per description, 1,024 per field value, 2,000 content).
 * Pure functions, any thread.
 */
#ifndef FG_WEBHOOKS_CHAT_H
#define FG_WEBHOOKS_CHAT_H

#include <stddef.h>

typedef enum { FG_WH_FORMAT_JSON = 0, FG_WH_FORMAT_SLACK, FG_WH_FORMAT_DISCORD } fg_wh_format_t;

/**
 * The chat body for event_json (the stored event) as a malloc'd NUL-terminated JSON text, its
 * length in *len; NULL when out of memory or when event_json is not a JSON object (the caller
 * then sends the event as it is). console_url may be NULL or "".
 */
char *fg_wh_chat_body(fg_wh_format_t fmt, const char *event_json, size_t len,
                      const char *console_url, size_t *out_len);

#endif
