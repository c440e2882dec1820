/* Versioned structs: the first field is size_t struct_size (libbpf's *_opts). */
#include "common/common.h"

int mimic__struct_copy_in(void *dst, size_t ours, const void *src, const char *what)
{
    size_t theirs;
    if (!src)
        return mimic__error(MIMIC_ERR_INVALID, "%s: NULL options", what);
    memcpy(&theirs, src, sizeof theirs);
    if (theirs < sizeof(size_t))
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: struct_size %zu is too small (call the _init function first)",
                            what, theirs);
    if (theirs > ours) {
        const unsigned char *tail = (const unsigned char *)src + ours;
        for (size_t i = 0; i < theirs - ours; i++)
            if (tail[i])
                return mimic__error(MIMIC_ERR_VERSION,
                                    "%s: struct_size %zu is larger than this library's %zu and "
                                    "the unknown fields are set (byte %zu); upgrade libmimic",
                                    what, theirs, ours, ours + i);
        theirs = ours;
    }
    memcpy(dst, src, theirs);
    memcpy(dst, &ours, sizeof ours); /* our copy describes our layout */
    return MIMIC_OK;
}

void mimic__struct_copy_out(void *dst, size_t struct_size, const void *full, size_t ours)
{
    if (!dst || struct_size < sizeof(size_t))
        return;
    memset(dst, 0, struct_size);
    memcpy(dst, full, struct_size < ours ? struct_size : ours);
    memcpy(dst, &struct_size, sizeof struct_size);
}

int mimic__struct_check_out(const void *out, const char *fn, const char *init)
{
    size_t n;
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    memcpy(&n, out, sizeof n);
    if (n < sizeof(size_t))
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: out->struct_size %zu is too small (call %s first)", fn, n, init);
    return MIMIC_OK;
}
