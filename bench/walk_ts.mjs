// The same walk through the official TypeScript client (@iblai/iblai-api), page after page,
// as its README shows. Prints items per second.   usage: node bench/walk_ts.mjs BASE_URL
import { OpenAPI, AiMentorService } from "@iblai/iblai-api";

OpenAPI.BASE = process.argv[2];
OpenAPI.HEADERS = { Authorization: "Api-Token bench" };
const t0 = performance.now();
let n = 0;
for (let page = 1; ; page++) {
  const body = await AiMentorService.aiMentorOrgsUsersArtifactsList({ org: "main", userId: "u", page, pageSize: 100 });
  n += body.results.length;
  if (!body.next) break;
}
console.log((n / ((performance.now() - t0) / 1000)).toFixed(1));
