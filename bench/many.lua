-- Our side of the "many clients" rows of `make bench` (bench/gramjs_many.js is GramJS's):
-- n clients in this one process, on one event loop, against a running mtproto-testdc.
--
--   lua5.4 bench/many.lua @args.json
--
-- args: the test DC's start-up JSON (host, ports, rsa_public_pem) plus n (clients, default
-- 1000), loop ("cqueues" or "luv"), dc (default 2), transport (default "padded"), gc_stepsize
-- (default 10: Lua's incremental collector in steps of 2^10 bytes, what a host running many
-- clients sets; 0: Lua's defaults, whose steps take several ms on the heap of 1,000 clients),
-- gc_pause (default 120: a cycle starts when the heap has grown by a fifth since the last one,
-- what a host running many clients sets; Lua's default 200 let it double) and gc_stepmul
-- (default 100),
-- gc ("generational": Lua's generational mode instead, minor collections every gc_minormul
-- percent of growth, default 20, major ones at gc_majormul, default 100; its collections are
-- not incremental and measured longer).
-- bench/run.lua runs it with GLIBC_TUNABLES=glibc.malloc.mxfast=0 (README, event loops).
--
-- Two phases, each started for every client at once and timed until the last one is done
-- (one coroutine per client does both):
--   connect  a new client, its handshake and a first call (help.getConfig, wrapped in
--            initConnection): what GramJS's client.connect() does (pfs off: one key each)
--   calls    auth.sendCode on a number of its own, then auth.resendCode
-- Per phase it prints `many_<loop>.<phase>_<what> value` lines:
--   s              wall time of the phase
--   kb_per_client  resident memory added since before the first client (VmRSS) / n
--   peak_kb_per_client the peak resident memory (VmHWM) so far, less the same start, / n
--   lua_kb_per_client  the part of it in the Lua heap (garbage not yet collected included)
--   late_ms        the worst lateness of a 10 ms timer running beside the clients on the loop
--   step_ms        the longest single step a client took on the loop: the time a client's
--                  coroutine ran between two waits (Lua and C calls together, handshake math
--                  included), measured by an adapter around the loop's own; wall time, so
--                  it includes the process being preempted on a busy machine
--   step_cpu_ms    the same step in CPU time (os.clock(): this one-thread process's; on a
--                  virtual machine it also counts the time the host took the CPU away)
--   steps_over_5ms_cpu how many steps took over 5 ms of CPU time
--   errors         calls that did not answer what they should
local mtproto = require("mtproto")
require("mtproto.client") -- mtproto loads it on first use: a program's start-up, not a client's step
local loops = require("mtproto.loop")
local core = require("mtproto.core")

local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local args = common.read_args()
local N = math.tointeger(args.n or 1000)
local LOOP = args.loop or "cqueues"
local DC = math.tointeger(args.dc or 2)
local API_HASH = "0123456789abcdef0123456789abcdef"
local now = core.conn.monotonic

local status_kb = common.status_kb
local function rss_kb() return status_kb("VmRSS") end

-- The i-th ordinary test number of the DC (kind digit 0, 1, 5 or 9: the others choose the
-- test DC's special logins).
local function test_phone(i)
  return ("99966%d%d%03d"):format(DC, ({ 0, 1, 5, 9 })[i // 1000 + 1], i % 1000)
end

-- The loop's adapter, with the time each coroutine runs between two waits recorded.
local base = loops.adapter(LOOP)
local stats = { step = 0, cpu = 0, over = 0 }
local last = setmetatable({}, { __mode = "k" }) -- coroutine -> { wall, cpu, heap } when it got the loop
-- MANY_DEBUG=ms: each step over that much CPU time is shown with where it ended, the Lua
-- heap before and after (a drop is the garbage collector's work done in that step), the
-- thread's minor page faults, user and system ticks, and its run time from the scheduler
-- (schedstat: a step whose run time is short of its CPU time ran other threads' work)
local DEBUG = tonumber(os.getenv("MANY_DEBUG"))
-- MANY_LIVE=1: also the live part of the Lua heap after each phase (lua_live_kb_per_client)
local LIVE = os.getenv("MANY_LIVE")
-- With MANY_DEBUG, the thread's counters from /proc (read only then: a few reads per step):
-- minor faults, user and system ticks, run time in ns and involuntary context switches.
local function thread_counters()
  local f = io.open("/proc/thread-self/stat")
  local st = f:read("a")
  f:close()
  local fields = {}
  for w in st:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
  f = io.open("/proc/thread-self/schedstat")
  local run = f:read("n")
  f:close()
  -- (after the ")": field 3 is the state; minflt is stat's 10th field, utime 14th, stime 15th)
  return { minflt = tonumber(fields[8]), utime = tonumber(fields[12]), stime = tonumber(fields[13]), run = run }
end
local function step_done(co)
  local t = last[co]
  if t then
    local d, c = now() - t[1], os.clock() - t[2]
    if d > stats.step then stats.step = d end
    if c > stats.cpu then stats.cpu = c end
    if c > 0.005 then stats.over = stats.over + 1 end
    if DEBUG and c * 1000 > DEBUG then
      local k0, k1 = t[4], thread_counters()
      io.stderr:write(("step %.2f ms, cpu %.2f ms, heap %.0f -> %.0f KiB, minflt +%d, utime +%d stime +%d ticks, "
        .. "run %.2f ms\n%s\n"):format(d * 1000, c * 1000, t[3], collectgarbage("count"), k1.minflt - k0.minflt,
        k1.utime - k0.utime, k1.stime - k0.stime, (k1.run - k0.run) / 1e6, debug.traceback()))
    end
  end
end
-- (one table per coroutine, refilled: a table per step was a KiB of garbage per client)
local function step_start(co)
  local t = last[co]
  if not t then
    t = {}
    last[co] = t
  end
  if DEBUG then t[4] = thread_counters() end
  t[1], t[2], t[3] = now(), os.clock(), collectgarbage("count")
end
local adapter = {
  now = base.now, cond = base.cond, forget = base.forget, running = base.running,
  wait = function(fd, events, deadline, cond)
    local co = coroutine.running()
    step_done(co)
    base.wait(fd, events, deadline, cond)
    step_start(co)
  end,
}

-- libcrypto's own start-up, once per process (its configuration, providers and PEM decoders,
-- the random generator): a program's start-up too, which otherwise lands in the first
-- client's first step (tens of milliseconds)
core.auth.rsa_fingerprint(args.rsa_public_pem)
core.crypto.random(16)

local opts = {}
for id, port in pairs(args.ports) do
  opts[math.tointeger(tonumber(id))] = { host = args.host, port = math.tointeger(port) }
end

local clients, errors = {}, 0
local phase_done, remaining

local function new_client()
  return mtproto.client{
    api_id = 1, api_hash = API_HASH, dc = DC, dc_options = opts, rsa_keys = { args.rsa_public_pem },
    transport = args.transport or "padded", flood_sleep_threshold = 0, timeout = 120, connect_timeout = 60,
    loop = adapter,
    -- one key per client, as GramJS makes (its client has no temporary keys; pfs would make
    -- two keys and a bind per client)
    pfs = false,
  }
end

local function connect_one(i)
  local c = new_client()
  clients[i] = c
  local r, err = c:invoke{ _ = "help.getConfig" }
  if not r or r._ ~= "config" then
    errors = errors + 1
    io.stderr:write("many: connect ", i, ": ", tostring(err), "\n")
  end
end

local function calls_one(i)
  local c, phone = clients[i], test_phone(i - 1)
  local sent, err = c.auth.sendCode{ phone_number = phone, api_id = 1, api_hash = API_HASH,
    settings = { _ = "codeSettings" } }
  if sent and sent._ == "auth.sentCode" then
    sent, err = c.auth.resendCode{ phone_number = phone, phone_code_hash = sent.phone_code_hash }
  end
  if not sent or sent._ ~= "auth.sentCode" then
    errors = errors + 1
    io.stderr:write("many: calls ", i, ": ", tostring(err), "\n")
  end
end

-- One coroutine per client for the whole run, as a host keeps one per client it serves: it
-- runs each phase's work, then waits on `go` for the next phase. (A coroutine per phase left
-- the first phase's thousand dead coroutines, stacks and call frames, to one sweep of the
-- collector in the middle of the next phase: about 3.5 MB freed inside one client's step.)
local PHASES = { connect_one, calls_one }
local go, phase_no = nil, 0
local function client_task(i)
  return function()
    local co = coroutine.running()
    step_start(co)
    for p = 1, #PHASES do
      while phase_no < p do adapter.wait(nil, nil, nil, go) end
      PHASES[p](i)
      remaining = remaining - 1
      if remaining == 0 then phase_done() end
    end
    step_done(co)
    last[co] = nil
  end
end

-- The 10 ms timer beside the clients: the worst lateness of its ticks. It runs while a phase
-- does (the loop returns when it and the clients are done).
local late, ticking = 0, false
local cq, uv, spawn, start_timer
if LOOP == "cqueues" then
  local cqueues = require("cqueues")
  cq = cqueues.new()
  spawn = function(f) cq:wrap(f) end
  start_timer = function()
    local mine = phase_no + 1 -- (started just before the phase's number moves on)
    cq:wrap(function()
      while ticking and mine == phase_no do
        local t = now()
        cqueues.sleep(0.01)
        if mine ~= phase_no then break end -- a tick of the last phase, late by the pause
        local d = now() - t - 0.01
        if d > late then late = d end
      end
    end)
  end
elseif LOOP == "luv" then
  uv = require("luv")
  spawn = base.spawn -- on the loop's run queue, as every wake-up (not all at once before uv.run)
  start_timer = function()
    local timer = uv.new_timer()
    local function arm()
      local t = now()
      timer:start(10, 0, function()
        local d = now() - t - 0.01
        if d > late then late = d end
        if ticking then arm() else timer:close() end
      end)
    end
    arm()
  end
else
  error("loop: expected cqueues or luv")
end

local GC_STEPSIZE = math.tointeger(args.gc_stepsize or 10)
local GC_PAUSE = math.tointeger(args.gc_pause or 120)
if args.gc == "generational" then
  collectgarbage("generational", math.tointeger(args.gc_minormul or 20), math.tointeger(args.gc_majormul or 100))
elseif GC_STEPSIZE > 0 then
  collectgarbage("incremental", GC_PAUSE, math.tointeger(args.gc_stepmul or 100), GC_STEPSIZE)
end
collectgarbage()
local rss0, lua0 = rss_kb(), collectgarbage("count")
local prefix = "many_" .. LOOP .. "."

go = adapter.cond()
local function phase(name)
  stats.step, stats.cpu, stats.over, late, remaining, ticking = 0, 0, 0, 0, N, true
  local t0, t1 = now(), nil
  phase_done = function() t1 = now(); ticking = false end
  start_timer()
  phase_no = phase_no + 1
  if phase_no == 1 then
    for i = 1, N do spawn(client_task(i)) end
  else
    go.signal()
  end
  -- until the phase is done (the clients then wait for the next one)
  if cq then repeat assert(cq:step()) until t1 else uv.run() end
  local rss = rss_kb()
  print(("%s%s_s %.3f"):format(prefix, name, t1 - t0))
  print(("%s%s_kb_per_client %.1f"):format(prefix, name, (rss - rss0) / N))
  print(("%s%s_peak_kb_per_client %.1f"):format(prefix, name, (status_kb("VmHWM") - rss0) / N))
  print(("%s%s_lua_kb_per_client %.1f"):format(prefix, name, (collectgarbage("count") - lua0) / N))
  if LIVE then -- (after the lines above: two full collections, then the heap left)
    collectgarbage()
    collectgarbage()
    print(("%s%s_lua_live_kb_per_client %.1f"):format(prefix, name, (collectgarbage("count") - lua0) / N))
  end
  print(("%s%s_late_ms %.2f"):format(prefix, name, late * 1000))
  print(("%s%s_step_ms %.3f"):format(prefix, name, stats.step * 1000))
  print(("%s%s_step_cpu_ms %.3f"):format(prefix, name, stats.cpu * 1000))
  print(("%s%s_steps_over_5ms_cpu %d"):format(prefix, name, stats.over))
  io.stdout:flush()
end

phase("connect")
phase("calls")
print(("%serrors %d"):format(prefix, errors))
print(("%sgc_stepsize %d"):format(prefix, GC_STEPSIZE))
print(("%sgc_pause %d"):format(prefix, GC_PAUSE))
for _, c in ipairs(clients) do c:close() end
