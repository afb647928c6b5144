/* The baseline: sequential GETs over one reused libcurl easy handle, with the same request
 * headers the SDK sends, so both measure the same requests. Prints requests per second.
 * usage: plain URL N */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: plain URL N\n");
    return 2;
  }
  int n = atoi(argv[2]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, argv[1]);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "iblai-lua/0.1.0 libcurl/7.88.1");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
  headers = curl_slist_append(headers, "Authorization: Api-Token bench");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      fprintf(stderr, "plain: request %d failed: %s (%ld)\n", i, curl_easy_strerror(rc), status);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%.1f\n", n / secs);
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);
  curl_global_cleanup();
  return 0;
}
