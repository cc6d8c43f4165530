/*
 * failalloc.c - an LD_PRELOAD library for the out-of-memory test (oom.test.js): every malloc,
 * calloc or realloc of FG_FAIL_ALLOC_OVER bytes or more returns NULL, as on a machine out of
 * memory; smaller ones go to glibc. Not linked into flowgate; the sanitizer builds skip the test
 * (their runtimes own malloc).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);

static size_t limit; /* 0: never fail */

__attribute__((constructor)) static void init(void)
{
    const char *v = getenv("FG_FAIL_ALLOC_OVER");
    limit = v != NULL ? (size_t)strtoull(v, NULL, 10) : 0;
}

void *malloc(size_t n)
{
    return limit != 0 && n >= limit ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (limit != 0 && size != 0 && n >= limit / size)
        return NULL;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    return limit != 0 && n >= limit ? NULL : __libc_realloc(p, n);
}
