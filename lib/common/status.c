/* Status codes, the thread-local last-error message, and the version. */
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

/* Fixed buffer: reporting out-of-memory must never allocate. */
static _Thread_local char last_error[512];

int mimic__error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *mimic__error_copy(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", last_error);
    return buf;
}

const char *mimic_last_error(void)
{
    return last_error;
}

const char *mimic_status_str(int status)
{
    switch (status) {
    case MIMIC_OK: return "success";
    case MIMIC_ERR_INVALID: return "invalid argument";
    case MIMIC_ERR_RANGE: return "value out of range";
    case MIMIC_ERR_SHAPE: return "shape mismatch";
    case MIMIC_ERR_NOMEM: return "out of memory";
    case MIMIC_ERR_IO: return "input/output error";
    case MIMIC_ERR_FORMAT: return "malformed file or buffer";
    case MIMIC_ERR_VERSION: return "unsupported version";
    case MIMIC_ERR_NUMERIC: return "non-finite number or divergence";
    case MIMIC_ERR_CANCELLED: return "cancelled";
    case MIMIC_ERR_UNSUPPORTED: return "unsupported";
    case MIMIC_ERR_MISUSE: return "library misuse (bad handle or call order)";
    case MIMIC_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char *mimic_version_string(void)
{
    return MIMIC_VERSION_STRING;
}

int mimic_version_number(void)
{
    return MIMIC_VERSION_NUMBER;
}
