/* Lua binding: mtproto.core.conn, the TCP driver, plus the small OS
 * utilities the Lua client needs (clocks, sleep, atomic file writes). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "lmt.h"

/* core.conn.monotonic() -> seconds (CLOCK_MONOTONIC) */
static int l_monotonic(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.conn.now() -> unix time (seconds, float) */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.conn.sleep(seconds): restarts after signals until the time is over. */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e9 && s == s, 1, "expected a number of seconds >= 0");
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static int push_errno(lua_State *L, const char *what, const char *path)
{
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(e));
    return 2;
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

/* core.conn.write_file_atomic(path, data [, mode]) -> true | nil, err
 * Writes a temporary file beside `path`, fsyncs it, renames it over `path`
 * and fsyncs the directory: a crash leaves either the old or the new file. */
static int l_write_file_atomic(lua_State *L)
{
    size_t plen, dlen;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *data = luaL_checklstring(L, 2, &dlen);
    lua_Integer mode = luaL_optinteger(L, 3, 0600);
    luaL_argcheck(L, plen > 0 && strlen(path) == plen, 1, "expected a non-empty path without NUL bytes");
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
    if (fd < 0) return push_errno(L, "cannot create a temporary file for", path);
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, dlen) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd); unlink(tmpl);
        errno = e;
        return push_errno(L, "cannot write", tmpl);
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmpl);
        errno = e;
        return push_errno(L, "cannot close", tmpl);
    }
    if (rename(tmpl, path) != 0) {
        int e = errno;
        unlink(tmpl);
        errno = e;
        return push_errno(L, "cannot rename the temporary file to", path);
    }
    int dfd = open(slash ? dirp : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some file systems refuse fsync on directories */
        close(dfd);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg conn_funcs[] = {
    { "monotonic", l_monotonic },
    { "now", l_now },
    { "sleep", l_sleep },
    { "write_file_atomic", l_write_file_atomic },
    { NULL, NULL },
};

int mt_open_conn(lua_State *L)
{
    luaL_newlib(L, conn_funcs);
    return 1;
}
