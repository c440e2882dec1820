/* A program that uses libmimic the way a user's project does: only the installed public
 * header and library. Built three ways (pkg-config, find_package, add_subdirectory) by
 * tests/consumer/run.sh; exits non-zero if the library it runs against disagrees with the
 * header it was compiled with. */
#include <mimic.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "consumer: FAIL: %s\n", what);
        failures++;
    }
}

int main(void)
{
    const char *v = mimic_version_string();
    expect(v != NULL && strcmp(v, MIMIC_VERSION_STRING) == 0,
           "mimic_version_string() matches MIMIC_VERSION_STRING (header/library mismatch?)");
    expect(mimic_version_number() == MIMIC_VERSION_NUMBER,
           "mimic_version_number() matches MIMIC_VERSION_NUMBER");
    expect(strcmp(mimic_status_str(MIMIC_OK), "unknown status") != 0, "MIMIC_OK has a text");
    expect(strcmp(mimic_status_str(MIMIC_ERR_NOMEM), "out of memory") == 0,
           "mimic_status_str(MIMIC_ERR_NOMEM) is \"out of memory\"");
    expect(strcmp(mimic_status_str(-1000), "unknown status") == 0,
           "mimic_status_str(-1000) is \"unknown status\"");
    const char *e = mimic_last_error();
    expect(e != NULL && e[0] == '\0', "mimic_last_error() is \"\" before any failure");
    if (failures)
        return 1;
    printf("consumer: libmimic %s (%d) OK\n", v, mimic_version_number());
    return 0;
}
