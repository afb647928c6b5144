/* iblai.httpd's operating-system helpers for the sandbox: durable file writes (Lua cannot fsync)
 * and starting in the background once listening.
 *
 * Runtime failures return nil, message (the message names the path and says what failed);
 * misuse raises. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include "httpd.h"

static int fail(lua_State *L, const char *what, const char *path, int err) {
  luaL_pushfail(L);
  lua_pushfstring(L, "%s %s: %s", what, path, strerror(err));
  return 2;
}

/* A failed write: nil, message, and "full" when the disk (or a quota, or a size limit) has no
 * room, "failed" otherwise, so the caller can tell "free some space" from "try again". */
static int write_fail(lua_State *L, const char *what, const char *path, int err) {
  fail(L, what, path, err);
  lua_pushstring(L, err == ENOSPC || err == EDQUOT || err == EFBIG ? "full" : "failed");
  return 3;
}

/* Writes all of data; 0 or an errno value (a short write on a full disk is ENOSPC). */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* fsync of the directory holding path, so a rename or a new file survives a crash. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return ENOMEM;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0) return errno;
  int err = fsync(fd) == 0 || errno == EINVAL ? 0 : errno; /* some file systems cannot sync a directory */
  close(fd);
  return err;
}

/* A file-size limit (ulimit -f) must fail the write with EFBIG, not kill the process. */
static void ignore_xfsz(void) { signal(SIGXFSZ, SIG_IGN); }

/* httpd.write_file(path, data): temp file in the same directory, fsync, rename, fsync of the
 * directory. On any failure the old file is untouched and the temp file removed. */
static int l_write_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  ignore_xfsz();
  const char *tmp = lua_pushfstring(L, "%s.tmp%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return write_fail(L, "cannot create", tmp, errno);
  int err = write_all(fd, data, len);
  const char *what = "cannot write", *where = tmp;
  if (!err && fsync(fd) != 0) err = errno, what = "cannot sync";
  if (close(fd) != 0 && !err) err = errno, what = "cannot close";
  if (!err && rename(tmp, path) != 0) err = errno, what = "cannot rename the new state over", where = path;
  if (err) {
    unlink(tmp);
    return write_fail(L, what, where, err);
  }
  if ((err = sync_dir(path)) != 0) return write_fail(L, "cannot sync the directory of", path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* Whether the file's last byte (at size - 1) is a newline; an empty file counts as one. */
static int ends_in_newline(int fd, off_t size) {
  char last = '\n';
  return size == 0 || (pread(fd, &last, 1, size - 1) == 1 && last == '\n');
}

/* httpd.append_file(path, data): appends a line and fdatasyncs; on failure the file is cut back
 * to its old length, so a reader never meets half a record. Should that cut fail too, the next
 * append starts on a new line, so the torn one stays apart and is skipped. Returns true, or nil,
 * a message and "full" or "failed". */
static int l_append_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  ignore_xfsz();
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return write_fail(L, "cannot open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return write_fail(L, "cannot stat", path, err);
  }
  int err = ends_in_newline(fd, st.st_size) ? 0 : write_all(fd, "\n", 1);
  if (!err) err = write_all(fd, data, len);
  const char *what = "cannot append to";
  if (!err && fdatasync(fd) != 0) err = errno, what = "cannot sync";
  if (err && ftruncate(fd, st.st_size) != 0) { /* the next append starts a new line */ }
  if (close(fd) != 0 && !err) err = errno, what = "cannot close";
  if (err) return write_fail(L, what, path, err);
  if (st.st_size == 0 && (err = sync_dir(path)) != 0) return write_fail(L, "cannot sync the directory of", path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* httpd.file_kind(path) -> "file", "directory", "other", or nil, message */
static int l_file_kind(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return fail(L, "cannot find", path, errno);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  return 1;
}

/* httpd.lock_file(path): an exclusive lock on path (created if missing) held until the process
 * ends, so two servers never write the same data; nil, message when another process holds it. */
static int l_lock_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail(L, "cannot open", path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      luaL_pushfail(L);
      lua_pushfstring(L, "%s is locked by another process", path);
      return 2;
    }
    return fail(L, "cannot lock", path, err);
  }
  lua_pushboolean(L, 1); /* the descriptor stays open on purpose: closing it would drop the lock */
  return 1;
}

/* httpd.detach(): forks. The child starts a new session and gets "child", fd: it reports with
 * httpd.ready(fd, text) once it listens. The parent waits for that report and gets "parent",
 * text, pid; or, when the child ends first, "parent", nil, its exit status. */
static int l_detach(lua_State *L) {
  int p[2];
  if (pipe(p) != 0) return fail(L, "cannot create", "a pipe", errno);
  fflush(NULL); /* or buffered output would be written twice */
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(p[0]);
    close(p[1]);
    return fail(L, "cannot fork", "the sandbox", err);
  }
  if (pid == 0) {
    close(p[0]);
    setsid();
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    lua_pushliteral(L, "child");
    lua_pushinteger(L, p[1]);
    return 2;
  }
  close(p[1]);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char chunk[512];
  ssize_t n;
  while ((n = read(p[0], chunk, sizeof chunk)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    luaL_addlstring(&b, chunk, (size_t)n);
  }
  close(p[0]);
  luaL_pushresult(&b);
  lua_pushliteral(L, "parent");
  if (lua_rawlen(L, -2) > 0) {
    lua_pushvalue(L, -2);
    lua_pushinteger(L, pid);
    return 3;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  lua_pushnil(L);
  lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  return 3;
}

/* httpd.ready(fd, text): the child's report to its parent; stdin and stdout then go to /dev/null
 * so a caller reading our output ($(...)) is not kept waiting. */
static int l_ready(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  fflush(stdout);
  int err = write_all(fd, text, len);
  close(fd);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    close(null);
  }
  signal(SIGPIPE, SIG_IGN); /* a closed stderr must not kill a background server */
  if (err) return fail(L, "cannot report to", "the parent process", err);
  lua_pushboolean(L, 1);
  return 1;
}

/* httpd.terminate(pid): asks a detached sandbox to stop (SIGTERM: it saves --data and exits). */
static int l_terminate(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  if (pid <= 0) return luaL_argerror(L, 1, "not a process id");
  if (kill(pid, SIGTERM) != 0) return fail(L, "cannot stop", "the sandbox", errno);
  lua_pushboolean(L, 1);
  return 1;
}

void iblai_httpd_os_funcs(lua_State *L) {
  static const luaL_Reg funcs[] = {{"write_file", l_write_file}, {"append_file", l_append_file},
                                   {"file_kind", l_file_kind},   {"lock_file", l_lock_file},
                                   {"detach", l_detach},         {"terminate", l_terminate},
                                   {"ready", l_ready},           {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
