/* A response body written to a file as it arrives (the request field to_file), so an answer of
 * any size costs no memory: the file is opened on the first byte of an answer worth keeping,
 * started over by each attempt that brings one, checked as JSON on the way when it says it is
 * JSON, and flushed to the disk (fsync) when the answer is complete. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

iblai_sink *iblai_sink_new(const char *path, size_t len) {
  iblai_sink *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->path = iblai_strndup(path, len);
  if (!k->path) {
    free(k);
    return NULL;
  }
  k->fd = -1;
  return k;
}

void iblai_sink_free(iblai_sink *k) {
  if (!k) return;
  if (k->fd >= 0) close(k->fd);
  iblai_jcheck_free(&k->json);
  free(k->path);
  free(k);
}

static int failed(iblai_sink *k, const char *doing) {
  k->err = errno ? errno : EIO;
  k->doing = doing;
  return -1;
}

int iblai_sink_restart(iblai_sink *k, int check_json) {
  k->bytes = 0;
  k->checking = check_json;
  if (check_json) iblai_jcheck_reset(&k->json);
  if (k->fd < 0) {
    /* not through a symbolic link: whoever can write in the directory could aim it anywhere;
       O_NONBLOCK: a FIFO without a reader fails instead of hanging the transfer loop */
    k->fd = open(k->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
    if (k->fd < 0) return failed(k, errno == ELOOP ? "open: it is a symbolic link" : "open");
    struct stat st;
    if (fstat(k->fd, &st) != 0) return failed(k, "open");
    if (!S_ISREG(st.st_mode)) { /* a pipe or a device cannot be started over for a retry */
      errno = EINVAL;
      return failed(k, "open (not a regular file)");
    }
    return 0;
  }
  if (ftruncate(k->fd, 0) != 0 || lseek(k->fd, 0, SEEK_SET) != 0) return failed(k, "truncate");
  return 0;
}

int iblai_sink_write(iblai_sink *k, const char *p, size_t n) {
  if (k->checking && iblai_jcheck_feed(&k->json, p, n) != 0) return -2;
  while (n > 0) {
    ssize_t w = write(k->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return failed(k, "write");
    }
    p += w;
    n -= (size_t)w;
    k->bytes += w;
  }
  return 0;
}

int iblai_sink_finish(iblai_sink *k) {
  int fd = k->fd;
  k->fd = -1;
  if (fsync(fd) != 0) {
    failed(k, "fsync");
    close(fd);
    return -1;
  }
  if (close(fd) != 0) return failed(k, "close");
  return 0;
}

const char *iblai_sink_problem(iblai_sink *k, char *buf, size_t size) {
  if (k->err) {
    snprintf(buf, size, "cannot write %s (%s): %s", k->path, k->doing, strerror(k->err));
    return "file";
  }
  snprintf(buf, size, "the response is not valid JSON: %s at byte %llu", k->json.problem ? k->json.problem : "?",
           (unsigned long long)k->json.at + 1);
  return "decode";
}
