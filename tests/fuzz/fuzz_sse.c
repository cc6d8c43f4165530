/*
 * fuzz_sse.c - SSE frame encoding: id, event and data cut from the input. The frame must end
 * with a blank line, carry every data byte, and have no line that is not a field.
 */
#include "events/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t a = data[0] % (size - 1), b = data[1] % (size - 1);
    const char *p = (const char *)data + 2;
    size_t n = size - 2, idlen = a < n ? a % 32 : 0, evlen = b < n - idlen ? b % 32 : 0;
    char id[33], event[33];
    memcpy(id, p, idlen);
    id[idlen] = '\0';
    memcpy(event, p + idlen, evlen);
    event[evlen] = '\0';
    const char *body = p + idlen + evlen;
    size_t blen = n - idlen - evlen;
    const char *idp = idlen ? id : NULL, *evp = evlen ? event : NULL;
    size_t want = fg_sse_frame_len(idp, evp, body, blen);
    char *out = malloc(want + 1);
    size_t w = fg_sse_frame_write(out, idp, evp, body, blen);
    if (w != want || w < 2 || out[w - 1] != '\n' || out[w - 2] != '\n')
        abort();
    /* every line before the final blank one is a field, with no CR in it */
    size_t end = w - 2; /* out[end] ends the last field line */
    for (size_t i = 0; i <= end;) {
        const char *nl = memchr(out + i, '\n', end + 1 - i);
        size_t len = (size_t)(nl - (out + i));
        if (len == 0 || memchr(out + i, '\r', len) != NULL)
            abort(); /* a blank line inside would end the event early */
        if (strncmp(out + i, "data:", 5) != 0 && strncmp(out + i, "id:", 3) != 0 &&
            strncmp(out + i, "event:", 6) != 0)
            abort();
        i += len + 1;
    }
    free(out);
    return 0;
}
