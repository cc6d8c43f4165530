/*
 * fuzz_auth.c - credential parsing: any bytes as a bearer credential (API key or JWT) against
 * an HS256 secret and two keys, with a type-restricted key's narrowing.
 */
#include "gateway/auth.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fg_auth_t *auth;
    static fg_catalog_t *cat;
    if (auth == NULL) {
        cat = fg_catalog_create();
        json_t *keys = json_loads(
            "[{\"name\":\"a\",\"sha256\":\"" /* sha256 of fgk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa */
            "1125f2404839f70a9e57ff76d946742c5651f13b30763748a614c0c49d2e39eb\","
            "\"scopes\":[\"subscribe\"],\"types\":[\"approval_*\"]}]",
            0, NULL);
        fg_auth_config_t ac = {.keys = keys, .jwt_secret = "0123456789abcdef0123456789abcdef"};
        char err[256];
        if (fg_auth_create(&ac, cat, &auth, err, sizeof(err)) != 0)
            abort();
        json_decref(keys);
    }
    fg_principal_t p;
    const char *why;
    if (fg_auth_verify(auth, (const char *)data, size, 1700000000000000, &p, &why) == 0) {
        fg_filter_t f;
        fg_verr_t err;
        fg_filter_init(&f);
        fg_auth_narrow(&p, &f, cat, &err);
        fg_filter_dispose(&f);
        fg_principal_dispose(&p);
    }
    return 0;
}
