/* The baseline for call_many: N DELETEs over a plain libcurl multi loop, CONCURRENCY at a time,
 * each handle reused, with the request headers the SDK sends (the same requests). Prints
 * requests per second.   usage: multi BASE_URL N CONCURRENCY */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static void submit(CURLM *m, CURL *h, const char *base, int id, struct curl_slist *headers) {
  char url[512];
  snprintf(url, sizeof url, "%s/api/ai-mentor/orgs/main/users/u/edx-memory/%d/", base, id);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "iblai-lua/0.1.0 libcurl/7.88.1");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)h);
  curl_multi_add_handle(m, h);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: multi BASE_URL N CONCURRENCY\n");
    return 2;
  }
  int n = atoi(argv[2]), c = atoi(argv[3]), next = 1, done = 0;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  struct curl_slist *headers = curl_slist_append(NULL, "Authorization: Api-Token bench");
  headers = curl_slist_append(headers, "Accept: application/json");
  CURL **h = calloc((size_t)c, sizeof *h);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < c && next <= n; i++) {
    h[i] = curl_easy_init();
    submit(m, h[i], argv[1], next++, headers);
  }
  while (done < n) {
    int running;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(m, &q))) {
      if (msg->msg != CURLMSG_DONE) continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result != CURLE_OK || status != 204) {
        fprintf(stderr, "multi: a DELETE failed (%s, %ld)\n", curl_easy_strerror(msg->data.result), status);
        return 1;
      }
      done++;
      curl_multi_remove_handle(m, msg->easy_handle);
      if (next <= n) submit(m, msg->easy_handle, argv[1], next++, headers);
    }
    if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%.1f\n", n / secs);
  for (int i = 0; i < c; i++) if (h[i]) curl_easy_cleanup(h[i]);
  free(h);
  curl_slist_free_all(headers);
  curl_multi_cleanup(m);
  curl_global_cleanup();
  return 0;
}
