-- `make bench`: lua-mtproto side by side with GramJS (npm `telegram`, the version pinned in
-- interop/package.json) on this machine, in this run, against the same local test DC; prints
-- one Markdown table of ratios (the README's "Benchmarks" section holds the latest one).
--
-- Every number is the median of several runs of a separate process (BENCH_RUNS, default 5, for
-- the codec/crypto rows; BENCH_NET_RUNS, default 3, for the network rows); ratios are taken
-- between the medians of the same row. Each network run gets a fresh test DC.
--   ours:   bench/tl.lua, bench/crypto.lua (codec, IGE, in-process handshake), bench/net.lua,
--           bench/many.lua (BENCH_MANY clients, default 1000, on one cqueues and one luv loop;
--           BENCH_MANY_RUNS runs, default 1: GramJS takes minutes for its handshakes)
--   GramJS: bench/gramjs_micro.js, bench/gramjs_net.js, bench/gramjs_many.js
--   floors: bench/floor.c (C echo pair over loopback TCP, pinned with taskset -c 0 and not;
--           AES-256-CBC encryption = the serial AES-NI floor; OpenSSL's AES_ige_encrypt;
--           one SRP check: PKCS5_PBKDF2_HMAC SHA-512 100k + the two 2048-bit-exponent modexps)
-- Benchmarks are not tests: nothing here runs in `make test`.
local json = require("dkjson")

local ROOT = os.getenv("MTPROTO_ROOT") or "."
local LUA = arg[-1] or "lua5.4"
local TESTDC = os.getenv("MTPROTO_TESTDC") or (ROOT .. "/build/mtproto-testdc")
local RUNS = tonumber(os.getenv("BENCH_RUNS")) or 5
local NET_RUNS = tonumber(os.getenv("BENCH_NET_RUNS")) or 3
local SEQ_N = tonumber(os.getenv("BENCH_SEQ_N")) or 2000
local PIPE_N = tonumber(os.getenv("BENCH_PIPE_N")) or 10000
local HANDSHAKES = tonumber(os.getenv("BENCH_HANDSHAKES")) or 20
-- BENCH_NET_JOBS="seq seqee seqsocks": only these network jobs, and no codec/crypto rows
local NET_JOBS = os.getenv("BENCH_NET_JOBS")
local function job_wanted(job) return not NET_JOBS or (" " .. NET_JOBS .. " "):find(" " .. job .. " ", 1, true) end
-- the test DC's MTProxy listener (when it has one) and microsocks (when installed) for the
-- proxy rows: the same calls through them, next to the direct ones of the same run
local MTPROXY_SECRET = "0123456789abcdef0123456789abcdef"
-- clients in one process and one loop (bench/many.lua, bench/gramjs_many.js); 0: no such rows
local MANY = tonumber(os.getenv("BENCH_MANY")) or 1000
local MANY_RUNS = tonumber(os.getenv("BENCH_MANY_RUNS")) or 1
-- BENCH_ONLY=micro,net,many: only those groups of rows (default all; BENCH_NET_JOBS: net only)
local ONLY = os.getenv("BENCH_ONLY") or (NET_JOBS and "net")
local function wanted(group) return not ONLY or ("," .. ONLY .. ","):find("," .. group .. ",", 1, true) ~= nil end
-- the 1-minute load average (/proc/loadavg), printed with the table: other work on the machine
-- moves every number, the paired ratios least
local function loadavg()
  local f = io.open("/proc/loadavg")
  local l = f and f:read("l")
  if f then f:close() end
  return l and l:match("^(%S+)") or "?"
end
local LOAD_START = loadavg()
local TMP = os.tmpname()
os.remove(TMP)
assert(os.execute("mkdir -p " .. TMP))

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function note(...) io.stderr:write(string.format(...), "\n") end

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- `name value` lines -> { name = number }
local function parse(out)
  local t = {}
  for name, v in out:gmatch("([%w_%.%-]+)[ \t]+([%-%d%.eE+]+)[^\n]*") do
    local n = tonumber(v)
    if n then t[name] = n end
  end
  return t
end

local samples = {} -- side -> name -> { [run] = value }
local function add(side, run_no, t)
  samples[side] = samples[side] or {}
  for k, v in pairs(t) do
    local l = samples[side][k] or {}
    l[run_no] = v
    samples[side][k] = l
  end
end

local function median(l)
  if not l then return nil end
  local c = {}
  for _, v in pairs(l) do c[#c + 1] = v end
  if #c == 0 then return nil end
  table.sort(c)
  local m = #c // 2
  return #c % 2 == 1 and c[m + 1] or (c[m] + c[m + 1]) / 2
end

local function series(side, name) return samples[side] and samples[side][name] end
local function get(side, name) return median(series(side, name)) end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- Runs `cmd` and files its numbers under `side`; a failing or missing bench is reported and
-- its rows stay empty.
local function run(side, run_no, cmd, rename)
  local out, ok = sh(cmd)
  if not ok then
    note("bench: %s failed:\n%s", cmd, out)
    return
  end
  local t = parse(out)
  if rename then t = rename(t) end
  add(side, run_no, t)
end

------------------------------------------------------------------------------------------
-- the test DC: a fresh one per network run, its stdin a FIFO we hold open (it stops at EOF)

local KEY = TMP .. "/testdc.key"
local DC_FLAGS
local function testdc_flags()
  if DC_FLAGS then return DC_FLAGS end
  local help = sh(q(TESTDC) .. " --help")
  DC_FLAGS = "--dcs 3"
  if help:match("%-%-key") then DC_FLAGS = DC_FLAGS .. " --key " .. q(KEY) end
  if help:match("%-%-mtproxy") then DC_FLAGS = DC_FLAGS .. " --mtproxy " .. MTPROXY_SECRET end
  local flag = help:match("(%-%-no%-flood)") or help:match("(%-%-flood%-free)")
  if flag then
    DC_FLAGS = DC_FLAGS .. " " .. flag
  else
    note("bench: %s has no --no-flood switch: FLOOD_WAIT answers count as errors", TESTDC)
  end
  return DC_FLAGS
end

local function start_dc(prefix, pre)
  local fifo = TMP .. "/dc.stdin"
  os.remove(fifo)
  assert(os.execute("mkfifo " .. q(fifo)))
  local p = assert(io.popen(("%secho $$; exec %s%s %s < %s 2>%s"):format(pre or "", prefix or "", q(TESTDC),
    testdc_flags(), q(fifo), q(TMP .. "/dc.log")), "r"))
  local pid = p:read("l")
  local hold = assert(io.open(fifo, "w")) -- unblocks the server's open of its stdin
  local line = p:read("l")
  local info = line and json.decode(line)
  if type(info) ~= "table" or not info.ports then
    hold:close()
    p:close()
    error("mtproto-testdc did not start: " .. tostring(line) .. "\n" .. (sh("cat " .. q(TMP .. "/dc.log"))))
  end
  info.stop = function()
    hold:close() -- EOF on its stdin stops it; SIGTERM too
    if pid and pid:match("^%d+$") then os.execute("kill " .. pid .. " 2>/dev/null") end
    p:close()
  end
  return info
end

local function args_file(info, extra)
  local a = { host = info.host, ports = info.ports, rsa_public_pem = info.rsa_public_pem,
    fingerprint = info.fingerprint }
  for k, v in pairs(extra) do a[k] = v end
  local path = TMP .. "/args.json"
  local f = assert(io.open(path, "w"))
  f:write(json.encode(a))
  f:close()
  return "@" .. path
end

------------------------------------------------------------------------------------------
-- runs

local have_node = exists(ROOT .. "/interop/node_modules/telegram/package.json")
if not have_node then note("bench: GramJS is not installed (make deps): its columns stay empty") end
local NODE = "node"

local FLOOR = ROOT .. "/build/bench/floor"
do
  local _, fresh = sh(("test %s -nt %s"):format(q(FLOOR), q(ROOT .. "/bench/floor.c")))
  if not fresh then
    assert(os.execute("mkdir -p " .. q(ROOT .. "/build/bench")))
    local out, ok = sh(("${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L"
    .. " -o %s %s -lcrypto")
      :format(q(FLOOR), q(ROOT .. "/bench/floor.c")))
    if not ok then error("cannot build bench/floor.c:\n" .. out) end
  end
end

-- bench/callpath.c (the client's CPU per small call without sockets) links the core's objects
local CALLPATH = ROOT .. "/build/bench/callpath"
local have_callpath = false
if exists(ROOT .. "/bench/callpath.c") then
  local out, ok = sh(("${CC:-cc} -O2 -g -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -I%s -o %s %s"
    .. " %s/build/obj/mt_*.o %s/build/obj/schema_data.o -lcrypto -lz")
    :format(q(ROOT .. "/src"), q(CALLPATH), q(ROOT .. "/bench/callpath.c"), q(ROOT), q(ROOT)))
  have_callpath = ok
  if not ok then note("bench: cannot build bench/callpath.c (its rows stay empty):\n%s", out) end
end

if wanted("micro") then note("bench: codec and crypto, %d runs each...", RUNS) end
for r = 1, wanted("micro") and RUNS or 0 do
  for _, f in ipairs { "tl.lua", "crypto.lua" } do
    if exists(ROOT .. "/bench/" .. f) then run("ours", r, ("%s %s"):format(q(LUA), q(ROOT .. "/bench/" .. f))) end
  end
  if have_callpath then run("ours", r, q(CALLPATH)) end
  if have_node then run("gramjs", r, ("%s %s"):format(NODE, q(ROOT .. "/bench/gramjs_micro.js"))) end
  run("floor", r, q(FLOOR) .. " srp")
  for _, size in ipairs { 1024, 524288 } do
    run("floor", r, ("%s aes %d"):format(q(FLOOR), size))
    run("floor", r, ("%s ige %d"):format(q(FLOOR), size))
  end
end

local have_dc = exists(TESTDC)
if not have_dc then note("bench: %s is missing: no network rows", TESTDC) end
-- bench/crypto.lua's in-process handshake keeps its name; the one over TCP gets another.
local function net_names(prefix_from, prefix_to)
  return function(t)
    local o = {}
    for k, v in pairs(t) do
      if k == "handshake.client_cpu_ms" then k = "handshake.net_client_cpu_ms" end
      if prefix_from then k = k:gsub("^" .. prefix_from:gsub("%.", "%%."), prefix_to) end
      o[k] = v
    end
    return o
  end
end

if have_dc and wanted("net") then
  note("bench: network, %d runs each (fresh test DC per run)...", NET_RUNS)
  local jobs = {
    { "handshake", { mode = "handshake", n = HANDSHAKES } },
    { "first_call", { mode = "first_call", n = HANDSHAKES }, only = "ours" },
    { "seq", { mode = "seq", n = SEQ_N }, floor = "echo" },
    -- ours again with the client and the test DC on one CPU, against the pinned echo pair
    { "seqpin", { mode = "seq", n = SEQ_N }, pin = true, only = "ours", floor = "echo_pinned" },
    { "pipe", { mode = "pipe", n = PIPE_N, window = 256 } },
    -- ours through the test DC's MTProxy listener (ee secret: fake TLS) and through microsocks
    { "seqee", { mode = "seq", n = SEQ_N }, proxy = "ee", only = "ours" },
    { "seqsocks", { mode = "seq", n = SEQ_N }, proxy = "socks5", only = "ours" },
  }
  local have_socks = sh("command -v microsocks") ~= ""
  if not have_socks then note("bench: microsocks is not installed (make deps): no SOCKS5 row") end
  -- a proxy URL for job.proxy against this test DC, and what stops what it started
  local function proxy_for(job, dc)
    if job.proxy == "ee" then
      if not dc.mtproxy_port then return nil end
      return ("tg://proxy?server=%s&port=%d&secret=ee%s%s"):format(dc.host, dc.mtproxy_port, MTPROXY_SECRET,
        ("example.com"):gsub(".", function(c) return ("%02x"):format(c:byte()) end)), function() end
    end
    if not have_socks then return nil end
    local port = 20000 + math.random(0, 30000)
    local pid = sh(("microsocks -i 127.0.0.1 -p %d >/dev/null 2>&1 </dev/null & echo $!"):format(port)):match("%d+")
    os.execute("sleep 0.3")
    return ("socks5://127.0.0.1:%d"):format(port), function() os.execute("kill " .. pid .. " 2>/dev/null") end
  end
  -- the loopback floor of a job, run just before it: the pair is measured under the same load
  local floors = {
    echo = function(r) run("floor", r, q(FLOOR) .. " echo") end,
    echo_pinned = function(r)
      run("floor", r, "taskset -c 0 " .. q(FLOOR) .. " echo", function(t)
        return { ["echo.pinned_round_trips_per_s"] = t["echo.round_trips_per_s"] }
      end)
    end,
  }
  for r = 1, NET_RUNS do
    for _, job in ipairs(jobs) do
      if job.floor and job_wanted(job[1]) then floors[job.floor](r) end
      for _, side in ipairs { "ours", "gramjs" } do
        if job_wanted(job[1]) and (side == "ours" or have_node) and (not job.only or job.only == side) then
          local pin = job.pin and "taskset -c 0 " or ""
          local dc = start_dc(pin)
          local extra, stop_proxy = job[2], function() end
          if job.proxy then
            extra = { mode = job[2].mode, n = job[2].n }
            extra.proxy, stop_proxy = proxy_for(job, dc)
          end
          if not job.proxy or extra.proxy then
            local a = args_file(dc, extra)
            local cmd = side == "ours" and ("%s %s %s"):format(q(LUA), q(ROOT .. "/bench/net.lua"), q(a))
              or ("%s %s %s"):format(NODE, q(ROOT .. "/bench/gramjs_net.js"), q(a))
            local renamed = job.pin and "net.seqpin_" or job.proxy and ("net." .. job[1] .. "_")
            run(side, r, "timeout 300 " .. pin .. cmd, net_names(renamed and "net.seq_" or nil, renamed or nil))
          end
          stop_proxy()
          dc.stop()
        end
      end
    end
  end
end

-- n clients on one loop: each side with a fresh test DC, and descriptors for every client
if have_dc and MANY > 0 and wanted("many") then
  note("bench: %d clients on one loop, %d run(s)...", MANY, MANY_RUNS)
  local ulimit = ("ulimit -n %d 2>/dev/null; "):format(MANY + 256)
  for r = 1, MANY_RUNS do
    local sides = { { "ours", "cqueues" }, { "ours", "luv" } }
    if have_node then sides[#sides + 1] = { "gramjs" } end
    for _, side in ipairs(sides) do
      local dc = start_dc(nil, ulimit)
      local a = args_file(dc, { n = MANY, loop = side[2] })
      local cmd = side[1] == "ours" and ("%s %s %s"):format(q(LUA), q(ROOT .. "/bench/many.lua"), q(a))
        or ("%s %s %s"):format(NODE, q(ROOT .. "/bench/gramjs_many.js"), q(a))
      -- ours as a host of many clients runs (README, event loops): glibc's malloc without
      -- fastbins, whose consolidation after a collector sweep landed in one client's step
      local env = side[1] == "ours" and "GLIBC_TUNABLES=glibc.malloc.mxfast=0 " or ""
      run(side[1], r, ulimit .. env .. "timeout 900 " .. cmd)
      dc.stop()
    end
  end
end

------------------------------------------------------------------------------------------
-- the table

-- Each row: name, unit, better, ours = { side, name }, theirs = { label, { side, name }, ... }
-- (the first candidate with numbers is used: an in-process reference of bench/crypto.lua
-- before the separate floor process). better = "higher": ratio = ours / theirs; "lower":
-- theirs / ours; so a ratio > 1 means ours is ahead. The ratio is the median of the per-run
-- ratios (run i of ours against run i of theirs, measured next to each other). `min` is the
-- target ratio, `max_ours` a ceiling on our value.
local G = function(name) return { "gramjs", name } end
local O = function(name) return { "ours", name } end
local F = function(name) return { "floor", name } end
local ROWS = {
  { "TL encode auth.resendCode", "ops/s", "higher",
    O "tl.encode_resendCode", { "GramJS", G "tl.encode_resendCode" }, min = 3 },
  { "TL decode auth.sentCode", "ops/s", "higher",
    O "tl.decode_sentCode", { "GramJS", G "tl.decode_sentCode" }, min = 1.5 },
  { "AES-256-IGE 1 KiB", "MB/s", "higher", O "ige.ours_1k", { "GramJS", G "ige.gramjs_1k" }, min = 9 },
  { "AES-256-IGE 1 KiB", "MB/s", "higher", O "ige.ours_1k",
    { "OpenSSL AES_ige_encrypt", O "ige.openssl_1k", F "ige.openssl_1k" } },
  { "AES-256-IGE 1 KiB", "MB/s", "higher", O "ige.ours_1k",
    { "serial AES-NI floor (CBC)", O "aes.cbc_floor_1k_inproc", F "aes.cbc_floor_1k" }, min = 0.75 },
  { "AES-256-IGE 512 KiB", "MB/s", "higher", O "ige.ours_512k", { "GramJS", G "ige.gramjs_512k" }, min = 9 },
  { "AES-256-IGE 512 KiB", "MB/s", "higher", O "ige.ours_512k",
    { "OpenSSL AES_ige_encrypt", O "ige.openssl_512k", F "ige.openssl_512k" } },
  { "AES-256-IGE 512 KiB", "MB/s", "higher", O "ige.ours_512k",
    { "serial AES-NI floor (CBC)", O "aes.ecb_floor", F "aes.cbc_floor_512k" }, min = 0.75 },
  { "client crypto per small call (encrypt + decrypt)", "us", "lower", O "callpath.client_crypto_us_per_small_msg_pair",
    { "GramJS MTProtoState", G "crypto.small_msg_pair_us" }, min = 1, max_ours = 2 },
  { "check_password (srp.check), client CPU", "ms", "lower", O "srp.check_password_ms",
    { "GramJS computeCheck", G "srp.gramjs_check_password_ms" } },
  { "check_password (srp.check), client CPU", "ms", "lower", O "srp.check_password_ms",
    { "OpenSSL PBKDF2 + 2 modexps (floor)", F "srp.floor_ms" }, min = 1 / 1.2 },
  { "handshake, client CPU (in process)", "ms", "lower", O "handshake.client_cpu_ms",
    { "GramJS (over TCP)", G "handshake.net_client_cpu_ms" }, min = 1, max_ours = 5 },
  { "handshake, client CPU over TCP", "ms", "lower", O "handshake.net_client_cpu_ms",
    { "GramJS", G "handshake.net_client_cpu_ms" }, min = 1, max_ours = 5 },
  { "first call, client CPU, pfs (keys, bind, call)", "ms", "lower", O "first_call.pfs_client_cpu_ms",
    { "pfs = false (one handshake, call)", O "first_call.plain_client_cpu_ms" } },
  { "sequential auth.resendCode", "calls/s", "higher",
    O "net.seq_calls_per_s", { "GramJS", G "net.seq_calls_per_s" }, min = 1 },
  { "sequential auth.resendCode", "calls/s", "higher", O "net.seq_calls_per_s",
    { "C echo pair, unpinned", F "echo.round_trips_per_s" }, min = 0.5 },
  { "sequential, client + DC on CPU 0", "calls/s", "higher", O "net.seqpin_calls_per_s",
    { "C echo pair, taskset -c 0", F "echo.pinned_round_trips_per_s" }, min = 0.7 },
  { "sequential: client CPU per call", "us", "lower", O "net.seq_cpu_us_per_call",
    { "GramJS", G "net.seq_cpu_us_per_call" }, min = 1 },
  { "sequential: peak RSS", "KiB", "lower", O "net.seq_maxrss_kb", { "GramJS", G "net.seq_maxrss_kb" }, min = 1 },
  { "sequential: RSS growth per call", "bytes", "lower", O "net.seq_rss_bytes_per_call",
    { "GramJS", G "net.seq_rss_bytes_per_call" } },
  { "sequential through an MTProxy (ee, fake TLS)", "calls/s", "higher", O "net.seqee_calls_per_s",
    { "direct, same run", O "net.seq_calls_per_s" } },
  { "sequential through SOCKS5 (microsocks)", "calls/s", "higher", O "net.seqsocks_calls_per_s",
    { "direct, same run", O "net.seq_calls_per_s" } },
  { "pipelined 10k, 256 in flight", "calls/s", "higher",
    O "net.pipe_calls_per_s", { "GramJS", G "net.pipe_calls_per_s" }, min = 3 },
  { "pipelined: client CPU per call", "us", "lower", O "net.pipe_cpu_us_per_call",
    { "GramJS", G "net.pipe_cpu_us_per_call" }, min = 1 },
  { "pipelined: peak RSS", "KiB", "lower", O "net.pipe_maxrss_kb", { "GramJS", G "net.pipe_maxrss_kb" }, min = 1 },
  { "pipelined: RSS growth per call", "bytes", "lower", O "net.pipe_rss_bytes_per_call",
    { "GramJS", G "net.pipe_rss_bytes_per_call" } },
}
-- n clients on one loop (bench/many.lua): per loop, per phase
local NOTHEIRS = { "-" }
for _, loop in ipairs { "cqueues", "luv" } do
  local p = "many_" .. loop .. "."
  local l = ("%d clients, %s: "):format(MANY, loop)
  for _, ph in ipairs { { "connect", "connect (handshake + getConfig)" }, { "calls", "sendCode + resendCode" } } do
    local k, what = ph[1], ph[2]
    ROWS[#ROWS + 1] = { l .. what .. ", wall", "s", "lower", O(p .. k .. "_s"), { "GramJS", G("many." .. k .. "_s") },
      min = 5 }
    ROWS[#ROWS + 1] = { l .. "memory per client after " .. k, "KiB", "lower", O(p .. k .. "_kb_per_client"),
      { "GramJS", G("many." .. k .. "_kb_per_client") }, min = 5 }
    ROWS[#ROWS + 1] = { l .. k .. ": worst lateness of a 10 ms timer", "ms", "lower", O(p .. k .. "_late_ms"),
      { "GramJS", G("many." .. k .. "_late_ms") }, max_ours = k == "calls" and 50 or nil }
    ROWS[#ROWS + 1] = { l .. k .. ": longest client step (wall)", "ms", "lower", O(p .. k .. "_step_ms"), NOTHEIRS,
      max_ours = 5 }
    ROWS[#ROWS + 1] = { l .. k .. ": longest client step (CPU)", "ms", "lower", O(p .. k .. "_step_cpu_ms"), NOTHEIRS,
      max_ours = 5 }
  end
end

-- The median of the per-run ratios of two series.
local function paired_ratio(a, b, better)
  if not a or not b then return nil end
  local l = {}
  for r, x in pairs(a) do
    local y = b[r]
    if y and x > 0 and y > 0 then l[#l + 1] = better == "higher" and x / y or y / x end
  end
  return median(l)
end

local function fmt(v)
  if v == nil then return "n/a" end
  local a = math.abs(v)
  if a >= 1e5 then return string.format("%.0f", v) end
  if a >= 100 then return string.format("%.0f", v) end
  if a >= 10 then return string.format("%.1f", v) end
  return string.format("%.2f", v)
end

local used = {}
local lines = {}
local function out(s) lines[#lines + 1] = s end

local function machine()
  local cpu = sh("grep -m1 'model name' /proc/cpuinfo"):match(":%s*(.-)%s*$") or "?"
  local n = sh("nproc"):match("%d+") or "?"
  local kernel = sh("uname -sr"):gsub("%s+$", "")
  local node = have_node and sh(NODE .. " --version"):gsub("%s+$", "") or "no node"
  local gramjs = "?"
  local f = io.open(ROOT .. "/interop/package.json")
  if f then
    gramjs = f:read("a"):match('"telegram"%s*:%s*"([^"]+)"') or "?"
    f:close()
  end
  return ("%s, %s CPUs, %s, %s, node %s, GramJS (npm telegram) %s"):format(cpu, n, kernel, _VERSION, node, gramjs)
end

out(("lua-mtproto benchmarks, %s UTC; %s; load average %s at the start, %s at the end.")
  :format(os.date("!%Y-%m-%d %H:%M"), machine(), LOAD_START, loadavg()))
out(("Medians of %d runs (network rows: %d runs, %d sequential / %d pipelined calls, %d handshakes);")
  :format(RUNS, NET_RUNS, SEQ_N, PIPE_N, HANDSHAKES))
out("ratio > 1 means ours is ahead (ours/theirs for rates, theirs/ours for costs), the median of per-run ratios;")
out("values are medians. MB = 1e6 bytes; CPU = user+system time of the client process alone.")
out("")
out("| row | unit | ours | compared with | theirs | ratio | target | ok |")
out("|---|---|---:|---|---:|---:|---|---|")
local misses = 0
for _, r in ipairs(ROWS) do
  local name, unit, better, o, t = r[1], r[2], r[3], r[4], r[5]
  used[o[1] .. ":" .. o[2]] = true
  local tk
  for i = 2, #t do
    used[t[i][1] .. ":" .. t[i][2]] = true
    if not tk and get(t[i][1], t[i][2]) then tk = t[i] end
  end
  local ov, tv = get(o[1], o[2]), tk and get(tk[1], tk[2])
  if ONLY and ov == nil and tv == nil then goto next_row end -- a group not run
  local ratio = tk and paired_ratio(series(o[1], o[2]), series(tk[1], tk[2]), better)
  local target, ok = {}, nil
  if r.min then target[#target + 1] = (">= %gx"):format(r.min) end
  if r.max_ours then target[#target + 1] = ("ours < %g %s"):format(r.max_ours, unit) end
  if ov and (ratio or not r.min) and (r.min or r.max_ours) then
    ok = (not r.min or ratio >= r.min) and (not r.max_ours or ov < r.max_ours)
  end
  if ok == false then misses = misses + 1 end
  out(("| %s | %s | %s | %s | %s | %s | %s | %s |"):format(name, unit, fmt(ov), t[1], fmt(tv),
    ratio and ("%.2fx"):format(ratio) or "n/a", #target > 0 and table.concat(target, ", ") or "-",
    ok == nil and (#target > 0 and "?" or "") or (ok and "yes" or "**no**")))
  ::next_row::
end
local errs = {}
for _, side in ipairs { "ours", "gramjs" } do
  for _, m in ipairs { "seq", "seqpin", "pipe" } do
    local e = get(side, "net." .. m .. "_errors")
    used[side .. ":net." .. m .. "_errors"] = true
    if e and e > 0 then errs[#errs + 1] = ("%s %s: %g calls did not answer auth.sentCode"):format(side, m, e) end
  end
  for _, m in ipairs { "many", "many_cqueues", "many_luv" } do
    local e = get(side, m .. ".errors")
    used[side .. ":" .. m .. ".errors"] = true
    if e and e > 0 then errs[#errs + 1] = ("%s %s: %g clients failed a phase"):format(side, m, e) end
  end
end
out("")
if #errs > 0 then out("Errors (those rows are not valid): " .. table.concat(errs, "; ") .. ".") end

-- Whatever else the benches printed, so that no measurement is hidden.
local extra = {}
for side, t in pairs(samples) do
  for name, l in pairs(t) do
    if not used[side .. ":" .. name] then extra[#extra + 1] = ("%s %s = %s"):format(side, name, fmt(median(l))) end
  end
end
table.sort(extra)
if #extra > 0 then out("Also measured: " .. table.concat(extra, "; ") .. ".") end
out(("%d of the rows with a target missed it."):format(misses))

print(table.concat(lines, "\n"))
os.execute("rm -rf " .. q(TMP))
