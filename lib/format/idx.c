/* IDX files (the MNIST family: Fashion-MNIST, KMNIST, EMNIST), uncompressed. A gzipped file is
 * decompressed by the caller (the CLI links zlib; libmimic does not). Only unsigned-byte data:
 * magic 00 00 08 01 (1-D, labels) or 00 00 08 03 (3-D, images); dimensions big-endian. */
#include "format/format.h"

int mimic__idx_parse_header(const uint8_t *buf, size_t len, const char *name, mimic__idx *out)
{
    memset(out, 0, sizeof *out);
    if (len < 4)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: not an IDX file: %zu bytes, shorter than the 4-byte magic", name,
                            len);
    if (buf[0] != 0 || buf[1] != 0)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: not an IDX file: magic %02x %02x %02x %02x does not start with "
                            "00 00",
                            name, buf[0], buf[1], buf[2], buf[3]);
    if (buf[2] != 0x08)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported IDX element type 0x%02x (only 0x08, unsigned byte)",
                            name, buf[2]);
    if (buf[3] != 1 && buf[3] != 3)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported IDX rank %u (1-D labels or 3-D images)", name, buf[3]);
    const int ndim = buf[3];
    const size_t hb = 4u + 4u * (size_t)ndim;
    if (len < hb)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: truncated IDX header: %zu bytes, %zu needed for %d dimensions",
                            name, len, hb, ndim);
    out->ndim = ndim;
    out->dims[0] = out->dims[1] = out->dims[2] = 1;
    size_t total = 1, end;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = mimic__be32(buf + 4 + 4 * i);
        if (d == 0)
            return mimic__error(MIMIC_ERR_FORMAT, "%s: IDX dimension %d is 0", name, i);
        out->dims[i] = d;
        if (!mimic__mul_ok(total, (size_t)d, &total))
            return mimic__error(MIMIC_ERR_FORMAT, "%s: IDX dimensions overflow the address space",
                                name);
    }
    if (!mimic__add_ok(total, hb, &end))
        return mimic__error(MIMIC_ERR_FORMAT, "%s: IDX dimensions overflow the address space",
                            name);
    out->rows = out->dims[0];
    out->cols = total / out->rows;
    out->header_bytes = hb;
    out->data_bytes = total;
    return MIMIC_OK;
}

int mimic__idx_parse(const uint8_t *buf, size_t len, const char *name, mimic__idx *out)
{
    int rc = mimic__idx_parse_header(buf, len, name, out);
    if (rc != MIMIC_OK)
        return rc;
    size_t have = len - out->header_bytes, want = out->data_bytes;
    if (have < want)
        rc = mimic__error(MIMIC_ERR_FORMAT,
                          "%s: truncated IDX data: the header declares %zu bytes (%zu items), the "
                          "file holds %zu",
                          name, want, out->rows, have);
    else if (have > want)
        rc = mimic__error(MIMIC_ERR_FORMAT,
                          "%s: %zu unexpected bytes after the %zu data bytes the IDX header "
                          "declares",
                          name, have - want, want);
    if (rc != MIMIC_OK)
        memset(out, 0, sizeof *out);
    return rc;
}
