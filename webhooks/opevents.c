/*
 * opevents.c - the dispatcher's operational events: flowgate publishes what happens to its
 * webhook endpoints on its own bus, so people subscribe to them like to any other event
 * (a stream of `webhook.*`, a chat channel):
 *   webhook.endpoint_failing    the endpoint's breaker opened (its last error, failures in a row)
 *   webhook.endpoint_recovered  it closed again (how long it was down)
 *   webhook.endpoint_disabled   the subscription was disabled (410 Gone, or failing too long)
 *   webhook.delivery_dead       a delivery's retry schedule ran out
 * Each names the subscription and the endpoint's host, never its url (a chat hook's path is its
 * secret). Submitted like a publish (the writer, or the shared log in cluster mode), without
 * waiting; a subscription is never sent the ones about itself (subscription.c). Dispatcher thread.
 */
#include "events/log.h"
#include "events/timefmt.h"
#include "events/validate.h"
#include "webhooks/dispatch_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    fg_writer_job_t job;
    fg_pub_event_t ev;
    fg_pub_result_t result;
} opjob_t;

static void op_done(fg_writer_job_t *job)
{
    opjob_t *o = job->udata;
    fg_pub_event_dispose(&o->ev);
    free(o);
}

void fg_wd_emit(struct fg_wh_dispatcher *d, json_t *event)
{
    opjob_t *o = event != NULL ? calloc(1, sizeof(*o)) : NULL;
    fg_verr_t err;
    int rc = o == NULL ? FG_ERR_NOMEM
                       : fg_pub_event_prepare(d->cfg.cat, event, NULL, 64 * 1024, fg_time_now_us(),
                                              &o->ev, &err);
    const char *type = json_string_value(json_object_get(event, "type"));
    if (rc != FG_OK) {
        fg_log(FG_LOG_WARN, "webhook_event_not_published", "type=%s error=\"%s\"",
               type ? type : "?", rc == FG_ERR_INVALID ? err.message : fg_strerror(rc));
        json_decref(event);
        free(o);
        return;
    }
    json_decref(event);
    o->job.events = &o->ev;
    o->job.n = 1;
    o->job.results = &o->result;
    o->job.done = op_done;
    o->job.udata = o;
    rc = d->cfg.sequencer != NULL ? fg_sequencer_submit(d->cfg.sequencer, &o->job)
                                  : fg_writer_submit(d->cfg.writer, &o->job);
    if (rc != FG_OK)
        op_done(&o->job);
}

json_t *fg_wd_endpoint_event(const char *type, const char *sub_id, const char *host)
{
    return json_pack("{s:s, s:s, s:s}", "type", type, "subscription_id", sub_id, "host",
                     host != NULL && host[0] ? host : "?");
}
