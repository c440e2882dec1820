/* Read-only file mappings and atomic (temp + fsync + rename) file writing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int mimic__map_file(const char *path, mimic__map *out)
{
    struct stat st;
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mimic__error(MIMIC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mimic__error(MIMIC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mimic__error(MIMIC_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mimic__error(e == ENOMEM ? MIMIC_ERR_NOMEM : MIMIC_ERR_IO,
                                "%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
    }
    close(fd);
    return MIMIC_OK;
}

void mimic__unmap(mimic__map *m)
{
    if (m->data)
        munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

struct mimic__blob {
    atomic_size_t refs;
    mimic__map map;
    void *owned;
    size_t size;
};

static int blob_new(mimic__blob **out, const char *name)
{
    *out = mimic__calloc(1, sizeof **out);
    if (!*out)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", name);
    atomic_init(&(*out)->refs, 1);
    return MIMIC_OK;
}

int mimic__blob_map(const char *path, mimic__blob **out)
{
    mimic__blob *b;
    int rc = blob_new(&b, path);
    if (rc == MIMIC_OK)
        rc = mimic__map_file(path, &b->map);
    if (rc != MIMIC_OK) {
        mimic__free(b);
        return rc;
    }
    b->size = b->map.size;
    *out = b;
    return MIMIC_OK;
}

int mimic__blob_copy(const void *data, size_t n, const char *name, mimic__blob **out)
{
    mimic__blob *b;
    int rc = blob_new(&b, name);
    if (rc != MIMIC_OK)
        return rc;
    b->owned = mimic__aligned_alloc(n);
    if (!b->owned) {
        mimic__free(b);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory copying %zu bytes", name, n);
    }
    if (n)
        memcpy(b->owned, data, n);
    b->size = n;
    *out = b;
    return MIMIC_OK;
}

const uint8_t *mimic__blob_data(const mimic__blob *b)
{
    return b->owned ? b->owned : b->map.data;
}

size_t mimic__blob_size(const mimic__blob *b)
{
    return b->size;
}

void mimic__blob_retain(mimic__blob *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void mimic__blob_release(mimic__blob *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    mimic__unmap(&b->map);
    mimic__free(b->owned);
    mimic__free(b);
}

bool mimic__file_id(const char *path, uint64_t id[2])
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return false;
    id[0] = (uint64_t)st.st_dev;
    id[1] = (uint64_t)st.st_ino;
    return true;
}

bool mimic__file_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0;
}

static void atomic_release(mimic__atomic_file *f)
{
    mimic__free(f->path);
    mimic__free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    f->fd = -1;
}

int mimic__atomic_open(mimic__atomic_file *f, const char *path)
{
    f->fd = -1;
    f->path = f->tmp_path = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "output path is NULL or empty");
    size_t n = strlen(path);
    f->path = mimic__strdup(path);
    f->tmp_path = mimic__malloc(n + 16);
    if (!f->path || !f->tmp_path) {
        atomic_release(f);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path);
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        atomic_release(f);
        return mimic__error(MIMIC_ERR_IO, "%s: is a directory", path);
    }
    memcpy(f->tmp_path, path, n);
    memcpy(f->tmp_path + n, ".tmp.XXXXXX", 12);
    f->fd = mkstemp(f->tmp_path);
    if (f->fd < 0) {
        int e = errno;
        atomic_release(f);
        return mimic__error(MIMIC_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    (void)fchmod(f->fd, 0644);
    return MIMIC_OK;
}

/* n bytes at `offset`, or at the end when offset is UINT64_MAX, in pieces of at most 1 GiB. */
static int write_all(mimic__atomic_file *f, const void *data, size_t n, uint64_t offset)
{
    const char *p = data;
    while (n > 0) {
        size_t k = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = offset == UINT64_MAX ? write(f->fd, p, k) : pwrite(f->fd, p, k, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return mimic__error(MIMIC_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        if (offset != UINT64_MAX)
            offset += (uint64_t)w;
    }
    return MIMIC_OK;
}

int mimic__atomic_write(mimic__atomic_file *f, const void *data, size_t n)
{
    return write_all(f, data, n, UINT64_MAX);
}

int mimic__atomic_pwrite(mimic__atomic_file *f, const void *data, size_t n, uint64_t offset)
{
    return write_all(f, data, n, offset);
}

static void fsync_parent_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1;
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int mimic__atomic_commit(mimic__atomic_file *f)
{
    int rc = MIMIC_OK;
    if (fsync(f->fd) != 0)
        rc = mimic__error(MIMIC_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (close(f->fd) != 0 && rc == MIMIC_OK)
        rc = mimic__error(MIMIC_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    if (rc == MIMIC_OK && rename(f->tmp_path, f->path) != 0)
        rc = mimic__error(MIMIC_ERR_IO, "%s: rename failed: %s", f->path, strerror(errno));
    if (rc != MIMIC_OK)
        unlink(f->tmp_path);
    else
        fsync_parent_dir(f->path);
    atomic_release(f);
    return rc;
}

void mimic__atomic_abort(mimic__atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->tmp_path);
    }
    atomic_release(f);
}
