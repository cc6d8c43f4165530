/*
 * runview_hooks.c - the run views as one of the writer's projections (projection.h): each hook
 * calls the run views' writer side (runview.h). Writer thread.
 */
#include "events/runview.h"

static int proj_apply(void *ctx, fg_store_t *s, const fg_event_t *view, const char *step_id,
                      int64_t now_us)
{
    return fg_runview_apply(ctx, view, step_id);
}

static int proj_mark(void *ctx, fg_store_t *s, uint64_t last_seq)
{
    return fg_runview_mark(ctx, last_seq);
}

static void proj_rolled_back(void *ctx, fg_store_t *s, bool whole)
{
    fg_runview_rolled_back(ctx);
}

static int proj_retain(void *ctx, fg_store_t *s, uint64_t purged_through, size_t chunk,
                       uint64_t *removed)
{
    return fg_runview_retain(ctx, purged_through, chunk, removed);
}

fg_projection_t fg_runview_projection(fg_runview_t *rv)
{
    return (fg_projection_t){.name = "run_views",
                             .ctx = rv,
                             .apply = proj_apply,
                             .mark = proj_mark,
                             .rolled_back = proj_rolled_back,
                             .retain = proj_retain};
}
