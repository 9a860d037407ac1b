/* Lua binding: mtproto.core.file, the few file-system calls the session file needs that
 * plain Lua io cannot make safely.
 *
 *   (every err is the table of lmt_fail: { code =, message =, detail = })
 *   file.read(path, max)          -> bytes | false (no such file) | nil, err
 *       never follows a symbolic link in the last component and never blocks on a FIFO:
 *       err.message is FILE_SYMLINK, FILE_SPECIAL (not a regular file), FILE_TOO_LARGE or FILE_IO
 *   file.write_atomic(path, data [, mode]) -> true | nil, err
 *       temp file beside `path` (mkstemp, then `mode`), fsync, rename over `path`, fsync of
 *       the directory: a crash leaves either the old or the new file
 *   file.lock(dir, name)          -> lock | nil, err (err.message FILE_LOCKED or FILE_IO)
 *       an exclusive flock on the file `name` in `dir` (created 0600), never waiting; held
 *       until lock:close() (also __gc and __close), which removes the file, or until the
 *       process ends (the file then stays, empty, and is reused)
 *   file.remove_stale(dir, name)  -> count | nil, err
 *       unlinks the regular files `.<name>.tmp.XXXXXX` in `dir` that write_atomic of
 *       `<dir>/<name>` left behind when killed mid-write */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "lmt.h"

#define LOCK_MT "mtproto.file.lock"

/* nil, err (lmt_fail): code MT_ERR_IO, message the kind of failure (FILE_IO, FILE_SYMLINK,
 * FILE_SPECIAL, FILE_TOO_LARGE, FILE_LOCKED), detail "<what> <path>: <strerror(errno)>". */
static int fail_errno(lua_State *L, const char *what, const char *path, const char *name)
{
    int e = errno;
    return lmt_fail(L, MT_ERR_IO, name, lua_pushfstring(L, "%s %s: %s", what, path, strerror(e)));
}

static int fail_why(lua_State *L, const char *msg, const char *name)
{
    return lmt_fail(L, MT_ERR_IO, name, msg);
}

static const char *check_path(lua_State *L, int i)
{
    size_t n;
    const char *p = luaL_checklstring(L, i, &n);
    luaL_argcheck(L, n > 0 && strlen(p) == n, i, "expected a non-empty path without NUL bytes");
    return p;
}

static int l_read(lua_State *L)
{
    const char *path = check_path(L, 1);
    lua_Integer max = luaL_checkinteger(L, 2);
    luaL_argcheck(L, max >= 0, 2, "expected a size >= 0");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway) */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) { lua_pushboolean(L, 0); return 1; }
        struct stat ls;
        if (errno == ELOOP && lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode))
            return fail_why(L, lua_pushfstring(L, "%s is a symbolic link", path), "FILE_SYMLINK");
        return fail_errno(L, "cannot open", path, "FILE_IO");
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return fail_errno(L, "cannot stat", path, "FILE_IO");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail_why(L, lua_pushfstring(L, "%s is not a regular file", path), "FILE_SPECIAL");
    }
    if (st.st_size > max) {
        close(fd);
        return fail_why(L, lua_pushfstring(L, "%s is larger than %I bytes", path, max), "FILE_TOO_LARGE");
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t r = read(fd, p, LUAL_BUFFERSIZE);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return fail_errno(L, "cannot read", path, "FILE_IO");
        }
        if (r == 0) break;
        luaL_addsize(&b, (size_t)r);
        if ((lua_Integer)luaL_bufflen(&b) > max) {
            close(fd);
            return fail_why(L, lua_pushfstring(L, "%s is larger than %I bytes", path, max), "FILE_TOO_LARGE");
        }
    }
    close(fd);
    luaL_pushresult(&b);
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w; n -= (size_t)w;
    }
    return 0;
}

static int l_write_atomic(lua_State *L)
{
    size_t dlen;
    const char *path = check_path(L, 1);
    const char *data = luaL_checklstring(L, 2, &dlen);
    lua_Integer mode = luaL_optinteger(L, 3, 0600);
    luaL_argcheck(L, mode >= 0 && mode <= 07777, 3, "expected a file mode between 0 and 0x0fff");

    /* the directory part, for the temp file and the final fsync */
    const char *slash = strrchr(path, '/');
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (slash) luaL_addlstring(&b, path, (size_t)(slash - path) + 1);
    luaL_pushresult(&b);                         /* dir prefix ("" or ".../") */
    const char *dirp = lua_tostring(L, -1);
    lua_pushfstring(L, "%s.%s.tmp.XXXXXX", dirp, slash ? slash + 1 : path);
    char *tmpl = (char *)lua_newuserdatauv(L, lua_rawlen(L, -1) + 1, 0);
    memcpy(tmpl, lua_tostring(L, -2), lua_rawlen(L, -2) + 1);

    int fd = mkstemp(tmpl);
    if (fd < 0) return fail_errno(L, "cannot create a temporary file for", path, "FILE_IO");
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, dlen) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd); unlink(tmpl);
        errno = e;
        return fail_errno(L, "cannot write", tmpl, "FILE_IO");
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmpl);
        errno = e;
        return fail_errno(L, "cannot close", tmpl, "FILE_IO");
    }
    if (rename(tmpl, path) != 0) {
        int e = errno;
        unlink(tmpl);
        errno = e;
        return fail_errno(L, "cannot rename the temporary file to", path, "FILE_IO");
    }
    int dfd = open(slash ? dirp : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some file systems refuse fsync on directories */
        close(dfd);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* The lock file is removed when the lock is released, so a taker checks, once it holds the
 * flock, that the name still leads to the file it locked (a releaser may have removed it in
 * between); if not, it tries again on the new file. The directory stays open so that release
 * removes the right file whatever the current directory is by then. */
typedef struct lfile_lock {
    int fd, dfd; /* both -1 once released */
} lfile_lock;

static int l_lock_close(lua_State *L)
{
    lfile_lock *k = luaL_checkudata(L, 1, LOCK_MT);
    if (k->fd >= 0) {
        lua_getiuservalue(L, 1, 1);
        const char *name = lua_tostring(L, -1);
        struct stat mine, now; /* remove it while still held (see above), if it is still ours */
        if (name && fstat(k->fd, &mine) == 0 && fstatat(k->dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0
            && now.st_ino == mine.st_ino && now.st_dev == mine.st_dev)
            unlinkat(k->dfd, name, 0);
        close(k->fd);
        k->fd = -1;
    }
    if (k->dfd >= 0) {
        close(k->dfd);
        k->dfd = -1;
    }
    return 0;
}

static int l_lock_tostring(lua_State *L)
{
    lfile_lock *k = luaL_checkudata(L, 1, LOCK_MT);
    lua_pushstring(L, k->fd >= 0 ? "mtproto.file.lock (held)" : "mtproto.file.lock (released)");
    return 1;
}

/* Takes the lock of k (its directory open): 1 with k->fd set, or the fail_* results. */
static int take_lock(lua_State *L, lfile_lock *k, const char *name)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = openat(k->dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd < 0) return fail_errno(L, "cannot open the lock file", name, "FILE_IO");
        struct stat st, now;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return fail_why(L, lua_pushfstring(L, "the lock file %s is not a regular file", name), "FILE_IO");
        }
        int rc;
        while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
        if (rc != 0) {
            int e = errno;
            close(fd);
            errno = e;
            if (e == EWOULDBLOCK) return fail_why(L, "locked by another client", "FILE_LOCKED");
            return fail_errno(L, "cannot lock", name, "FILE_IO");
        }
        if (fstatat(k->dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino
            && now.st_dev == st.st_dev) {
            k->fd = fd;
            return 1;
        }
        close(fd); /* released and removed meanwhile: take the new one */
    }
    return fail_why(L, lua_pushfstring(L, "the lock file %s keeps being replaced", name), "FILE_IO");
}

static int l_lock(lua_State *L)
{
    const char *dir = check_path(L, 1);
    size_t nlen;
    const char *name = luaL_checklstring(L, 2, &nlen);
    luaL_argcheck(L, nlen > 0 && strlen(name) == nlen && !strchr(name, '/'), 2,
                  "expected a file name without '/' or NUL bytes");
    lfile_lock *k = lmt_new_object(L, sizeof *k, 1, LOCK_MT);
    k->fd = k->dfd = -1;
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 1);
    k->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (k->dfd < 0) return fail_errno(L, "cannot open the directory", dir, "FILE_IO");
    int n = take_lock(L, k, name);
    if (k->fd < 0) {
        close(k->dfd);
        k->dfd = -1;
    }
    return n;
}

/* ".<name>.tmp." followed by exactly the six characters mkstemp puts in place of XXXXXX */
static int is_temp_of(const char *entry, const char *name, size_t nlen)
{
    if (entry[0] != '.' || strncmp(entry + 1, name, nlen) != 0) return 0;
    const char *t = entry + 1 + nlen;
    if (strncmp(t, ".tmp.", 5) != 0) return 0;
    t += 5;
    for (int i = 0; i < 6; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return t[6] == 0;
}

static int l_remove_stale(lua_State *L)
{
    const char *dir = check_path(L, 1);
    size_t nlen;
    const char *name = luaL_checklstring(L, 2, &nlen);
    luaL_argcheck(L, nlen > 0 && strlen(name) == nlen && !strchr(name, '/'), 2,
                  "expected a file name without '/' or NUL bytes");
    DIR *d = opendir(dir);
    if (!d) return fail_errno(L, "cannot list", dir, "FILE_IO");
    lua_Integer n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!is_temp_of(e->d_name, name, nlen)) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) n++;
    }
    closedir(d);
    lua_pushinteger(L, n);
    return 1;
}

static const luaL_Reg lock_methods[] = {
    { "close", l_lock_close },
    { NULL, NULL },
};

static const luaL_Reg file_funcs[] = {
    { "read", l_read },
    { "write_atomic", l_write_atomic },
    { "lock", l_lock },
    { "remove_stale", l_remove_stale },
    { NULL, NULL },
};

int mt_open_file(lua_State *L)
{
    lmt_new_type(L, LOCK_MT, lock_methods, l_lock_close, l_lock_tostring);
    lua_pop(L, 1);
    luaL_newlib(L, file_funcs);
    return 1;
}
