-- Create an issue, then read it back: the request pair the spine benchmark measures.
--
-- Usage: wrk ... -s create_read.lua <url> -- <path prefix> [site] [token]
-- Each connection sends POST <prefix>/issues; every 201 queues the returned key, and the next
-- request on that thread reads a queued key with GET <prefix>/issues/<key>. So creates and reads
-- alternate and every read names an issue that exists. Anything but 201/200 counts as a failure.
-- done() prints one "SPINE-COUNTS" line that spine.py parses next to wrk's --latency figures,
-- and one "STATUS-COUNTS" line: space-separated `<status>:<error code>=<count>` pairs (the error
-- code is the "error" field of a JSON error body, "-" when there is none), so refusals can be
-- told apart by cause.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   prefix = args[1] or ""
   local site, token = args[2], args[3]
   get_headers = {}
   if site and site ~= "" then
      get_headers["X-Tenantry-Site"] = site
   end
   if token and token ~= "" then
      get_headers["Authorization"] = "Bearer " .. token
   end
   post_headers = {["Content-Type"] = "application/json"}
   for name, value in pairs(get_headers) do
      post_headers[name] = value
   end
   create_body = '{"project":"BEN","summary":"s","description":"d"}'
   keys = {}
   creates, reads, failures, unparsed = 0, 0, 0, 0
   statuses = {}
end

function request()
   local key = table.remove(keys, 1)
   if key then
      return wrk.format("GET", prefix .. "/issues/" .. key, get_headers)
   end
   return wrk.format("POST", prefix .. "/issues", post_headers, create_body)
end

function response(status, headers, body)
   local code = "-"
   if status == 201 then
      creates = creates + 1
      local key = body:match('"key"%s*:%s*"([^"]+)"')
      if key then
         table.insert(keys, key)
      else
         unparsed = unparsed + 1
      end
   elseif status == 200 then
      reads = reads + 1
   else
      failures = failures + 1
      code = body:match('"error"%s*:%s*"([^"]+)"') or "-"
      if failures <= 3 then
         io.stderr:write("spine: unexpected status " .. status .. ": " .. body:sub(1, 200) .. "\n")
      end
   end
   local tag = status .. ":" .. code
   statuses[tag] = (statuses[tag] or 0) + 1
end

function done(summary, latency, requests)
   local c, r, f, u = 0, 0, 0, 0
   local totals = {}
   for _, thread in ipairs(threads) do
      c = c + thread:get("creates")
      r = r + thread:get("reads")
      f = f + thread:get("failures")
      u = u + thread:get("unparsed")
      for tag, n in pairs(thread:get("statuses")) do
         totals[tag] = (totals[tag] or 0) + n
      end
   end
   io.write(string.format("SPINE-COUNTS creates=%d reads=%d failures=%d unparsed=%d\n", c, r, f, u))
   local parts = {}
   for tag, n in pairs(totals) do
      table.insert(parts, tag .. "=" .. n)
   end
   table.sort(parts)
   io.write("STATUS-COUNTS " .. table.concat(parts, " ") .. "\n")
end
