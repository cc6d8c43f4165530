/*
 * chat.c - Slack and Discord message bodies from events (see chat.h).
 */
#include "webhooks/chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A short, human summary of one event. */
typedef struct {
    char headline[320]; /* "Run failed", "Approval requested" … */
    char detail[3200];  /* the error, message or log line */
    unsigned color;     /* Discord embed colour */
} summary_t;

static const char *str(const json_t *ev, const char *k)
{
    const char *s = json_string_value(json_object_get(ev, k));
    return s ? s : "";
}

/* Cuts s to at most max bytes on a UTF-8 boundary, ending with "…" when cut. */
static void cut(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    size_t end = max >= 3 ? max - 3 : 0;
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80)
        end--; /* not inside a character */
    memcpy(s + end, "\xE2\x80\xA6", 4);
}

static void summarize(const json_t *ev, summary_t *s)
{
    const char *type = str(ev, "type");
    s->color = 0x36C5F0;
    s->detail[0] = '\0';
    if (strcmp(type, "run_created") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Run created");
    } else if (strcmp(type, "run_status_changed") == 0) {
        const char *to = str(ev, "to");
        snprintf(s->headline, sizeof(s->headline), "Run %s", to);
        snprintf(s->detail, sizeof(s->detail), "%s \xE2\x86\x92 %s%s%s", str(ev, "from"), to,
                 str(ev, "error")[0] ? ": " : "", str(ev, "error"));
        if (strcmp(to, "failed") == 0 || strcmp(to, "cancelled") == 0)
            s->color = 0xE01E5A;
        else if (strcmp(to, "completed") == 0)
            s->color = 0x2EB67D;
        else if (strcmp(to, "awaiting_approval") == 0)
            s->color = 0xECB22E;
    } else if (strcmp(type, "run_failed") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Run failed");
        snprintf(s->detail, sizeof(s->detail), "%s", str(ev, "error"));
        s->color = 0xE01E5A;
    } else if (strcmp(type, "step_completed") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Step %s completed", str(ev, "step_name"));
        snprintf(s->detail, sizeof(s->detail), "%s step", str(ev, "kind"));
        s->color = 0x2EB67D;
    } else if (strcmp(type, "step_failed") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Step %s failed", str(ev, "step_name"));
        snprintf(s->detail, sizeof(s->detail), "%s", str(ev, "error"));
        s->color = 0xE01E5A;
    } else if (strcmp(type, "approval_requested") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Approval requested");
        snprintf(s->detail, sizeof(s->detail), "%s", str(ev, "message"));
        s->color = 0xECB22E;
    } else if (strcmp(type, "approval_granted") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Approved by %s", str(ev, "approved_by"));
        s->color = 0x2EB67D;
    } else if (strcmp(type, "approval_rejected") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Rejected by %s", str(ev, "rejected_by"));
        s->color = 0xE01E5A;
    } else if (strcmp(type, "log_line") == 0) {
        snprintf(s->headline, sizeof(s->headline), "Log of step %s (%s)", str(ev, "step_name"),
                 str(ev, "stream"));
        snprintf(s->detail, sizeof(s->detail), "%s", str(ev, "line"));
    } else if (strncmp(type, "user_", 5) == 0) {
        const char *who = str(ev, "username")[0] ? str(ev, "username") : str(ev, "user_id");
        const char *what = strcmp(type, "user_signed_in") == 0    ? "signed in"
                           : strcmp(type, "user_signed_up") == 0  ? "signed up"
                           : strcmp(type, "user_signed_out") == 0 ? "signed out"
                                                                  : type + 5;
        snprintf(s->headline, sizeof(s->headline), "User %s %s", who, what);
    } else {
        snprintf(s->headline, sizeof(s->headline), "%s", type[0] ? type : "event");
    }
    cut(s->headline, 250);
    cut(s->detail, 2900);
}

/* Slack mrkdwn: &, < and > are the only characters to escape. */
static char *slack_escape(const char *in)
{
    size_t n = 0;
    for (const char *p = in; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
    char *out = malloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = in; *p; p++) {
        const char *r = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        if (r != NULL) {
            memcpy(o, r, strlen(r));
            o += strlen(r);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static json_t *slack_message(const json_t *ev, const summary_t *s, const char *link)
{
    char *head = slack_escape(s->headline), *detail = slack_escape(s->detail);
    char section[3000 + 8], context[600];
    snprintf(section, sizeof(section), "*%s*%s%s", head ? head : "", s->detail[0] ? "\n" : "",
             detail ? detail : "");
    cut(section, 2990);
    free(head);
    free(detail);
    const char *wf = str(ev, "workflow_name"), *run = str(ev, "run_id");
    int n = 0;
    context[0] = '\0';
    if (wf[0])
        n += snprintf(context + n, sizeof(context) - (size_t)n, "Workflow: `%.200s`", wf);
    if (run[0])
        n += snprintf(context + n, sizeof(context) - (size_t)n, "%sRun: `%.64s`",
                      n ? " \xC2\xB7 " : "", run);
    json_t *blocks = json_array();
    json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text",
                                            "type", "mrkdwn", "text", section));
    if (context[0])
        json_array_append_new(blocks, json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context",
                                                "elements", "type", "mrkdwn", "text", context));
    if (link != NULL)
        json_array_append_new(blocks,
                              json_pack("{s:s, s:[{s:s, s:{s:s, s:s}, s:s}]}", "type", "actions",
                                        "elements", "type", "button", "text", "type", "plain_text",
                                        "text", "Open run", "url", link));
    char text[400];
    snprintf(text, sizeof(text), "%s%s%.64s", s->headline, run[0] ? " \xE2\x80\x94 run " : "", run);
    return json_pack("{s:s, s:o}", "text", text, "blocks", blocks);
}

static json_t *discord_message(const json_t *ev, const summary_t *s, const char *link)
{
    json_t *fields = json_array();
    const char *labels[][2] = {{"workflow_name", "Workflow"},
                               {"run_id", "Run"},
                               {"to", "Status"},
                               {"cost_usd", "Cost (USD)"},
                               {"step_name", "Step"}};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        const json_t *v = json_object_get(ev, labels[i][0]);
        char value[1100];
        if (json_is_string(v))
            snprintf(value, sizeof(value), "%s", json_string_value(v));
        else if (json_is_number(v))
            snprintf(value, sizeof(value), "%g", json_number_value(v));
        else
            continue;
        cut(value, 1000);
        if (value[0])
            json_array_append_new(fields, json_pack("{s:s, s:s, s:b}", "name", labels[i][1],
                                                    "value", value, "inline", 1));
    }
    json_t *embed = json_pack("{s:s, s:i, s:o}", "title", s->headline, "color", (int)s->color,
                              "fields", fields);
    if (s->detail[0])
        json_object_set_new(embed, "description", json_string(s->detail));
    const char *at = str(ev, "at");
    if (at[0])
        json_object_set_new(embed, "timestamp", json_string(at));
    if (link != NULL)
        json_object_set_new(embed, "url", json_string(link));
    /* no @everyone or role pings from event text */
    return json_pack("{s:s, s:[o], s:{s:[]}}", "content", s->headline, "embeds", embed,
                     "allowed_mentions", "parse");
}

char *fg_wh_chat_body(fg_wh_format_t fmt, const char *event_json, size_t len,
                      const char *console_url, size_t *out_len)
{
    json_t *ev = json_loadb(event_json, len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return NULL;
    }
    summary_t s;
    summarize(ev, &s);
    char link[2048], *linkp = NULL;
    const char *run = str(ev, "run_id");
    if (console_url != NULL && console_url[0] && run[0]) {
        size_t n = strlen(console_url);
        snprintf(link, sizeof(link), "%s%sruns/%.64s", console_url,
                 console_url[n - 1] == '/' ? "" : "/", run);
        linkp = link;
    }
    json_t *msg =
        fmt == FG_WH_FORMAT_SLACK ? slack_message(ev, &s, linkp) : discord_message(ev, &s, linkp);
    json_decref(ev);
    char *out = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (out != NULL)
        *out_len = strlen(out);
    return out;
}
