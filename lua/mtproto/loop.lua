--- mtproto.loop: how a client waits inside an event loop.
--
-- A client made with `loop = "cqueues"`, `loop = "luv"` or `loop = adapter` never blocks the
-- process while it waits: a call made inside a coroutine the loop runs suspends that coroutine
-- (for the answer, a handshake, a reconnect's pause, a FLOOD_WAIT) and the loop runs other work.
-- A call made outside such a coroutine (the main thread) blocks, as without `loop`.
--
-- An adapter is a table of three functions; cqueues and luv have one here, and another
-- scheduler (copas, a fiber library) takes a few dozen lines:
--
--   now()        -> seconds on a monotonic clock (the one core.conn.monotonic() reads)
--   forget(fd)   -> (optional) the socket is about to be closed: drop what the loop keeps on it
--   running()    -> whether the running coroutine is one the loop runs (optional; default
--                   coroutine.isyieldable): when not, the client blocks instead
--   cond()       -> a condition: an object with :signal() that wakes every coroutine waiting on it
--   spawn(f)     -> (optional) runs f in a coroutine of its own on the loop, later (not inside
--                   the caller): the client's update reader, which runs the update handlers
--                   as updates arrive; without it they run during the client's calls and
--                   client:run()
--   wait(fd, events, deadline, cond)
--                   suspends the running coroutine until the socket `fd` is ready for `events`
--                   ("r", "w" or "rw"), `deadline` (a now() value) passes, or `cond` is
--                   signalled, whichever comes first; fd, deadline and cond may each be nil.
--                   It returns nothing (the caller looks again at what it waits for).
--
-- M.adapter(loop) turns the client's `loop` option into an adapter (raising on a bad one).
-- @module mtproto.loop
local core = require("mtproto.core")

local M = {}

local monotonic = core.conn.monotonic

--- cqueues: cqueues.poll() on a pollable for the socket, the condition and a timeout.
function M.cqueues()
  local cqueues = require("cqueues")
  local condition = require("cqueues.condition")
  local A = { now = monotonic }
  function A.running() return (cqueues.running()) ~= nil end
  function A.forget(fd) cqueues.cancel(fd) end
  function A.cond()
    local c = condition.new()
    return { signal = function() c:signal() end, cq = c }
  end
  -- fd -> { pollfd = fd, events = } kept for the next wait on it (a wait makes no table);
  -- weak, and one wait at a time has it (another wait on the same descriptor meanwhile
  -- makes its own)
  local pollables = setmetatable({}, { __mode = "v" })
  function A.wait(fd, events, deadline, cond)
    local p
    if fd then
      p = pollables[fd]
      if not p or p.busy then
        p = { pollfd = fd }
        pollables[fd] = p
      end
      p.events, p.busy = events, true
    end
    -- (cqueues.poll skips nil arguments; if it raises, the pollable stays busy and the next
    -- wait on fd makes another)
    cqueues.poll(p, cond and cond.cq, deadline and math.max(0, deadline - monotonic()))
    if p then p.busy = false end
    -- cqueues keeps a descriptor it polled registered; the client may close this one (a
    -- reconnect) before the next wait, and a closed one left registered breaks the controller
    if fd then cqueues.cancel(fd) end
  end
  --- Runs f in a coroutine of its own on the controller running the caller.
  function A.spawn(f) (cqueues.running()):wrap(f) end
  return A
end

-- The luv loop's run queue: the coroutines whose waits are over, resumed in order from an
-- idle handle (active only while the queue holds some: libuv then polls without blocking).
-- Each turn resumes those queued before it started, for RUN_BUDGET seconds at most, then
-- gives the loop back: its timers and sockets are served between the turns. Resuming them
-- straight from the poll callbacks ran the answers of a thousand clients in one poll phase,
-- holding a 10 ms timer for hundreds of milliseconds. One queue per luv module (libuv's
-- default loop, the one luv runs): the clients of one loop share its turns, whichever
-- adapter they were made with.
local RUN_BUDGET = 0.002
local run_queues = setmetatable({}, { __mode = "k" }) -- luv module -> its run queue

local function run_queue(uv)
  local q = run_queues[uv]
  if q then return q end
  local items, head, tail = {}, 1, 0
  local idle = uv.new_idle()
  local function turn()
    local last, t0 = tail, monotonic()
    while head <= last do
      local co = items[head]
      items[head] = nil
      head = head + 1
      local ok, err = coroutine.resume(co)
      if not ok then error(err, 0) end
      if monotonic() - t0 >= RUN_BUDGET then break end
    end
    if head > tail then
      head, tail = 1, 0
      idle:stop()
    end
  end
  q = {}
  function q.push(co)
    if head > tail then idle:start(turn) end
    tail = tail + 1
    items[tail] = co
  end
  run_queues[uv] = q
  return q
end

--- luv: a poll handle for the socket and a timer for the deadline.
-- A wait that is over (its socket ready, its deadline passed, its condition signalled) does
-- not resume its coroutine from the handle's callback: it queues it on the loop's run queue
-- (see run_queue), so the coroutines run on the loop's turns, a few milliseconds at a time,
-- never inside the signaller and never all in one of libuv's phases. (A connect refused while
-- polled: libuv reports EPOLLERR to the callback as EBADF and luv prints it on stderr; the
-- wake-up is all we take from it, the pump reads the socket's own error.)
-- A wait makes nothing: each coroutine has one table for its waits, a descriptor's poll handle
-- stays (stopped between waits) for the sockets given that number, and a timer goes back to a
-- few kept for the next waits (new handles and a closure per wait were half a KiB of garbage
-- each, with finalizers: most of what a client on luv left to the collector).
local KEPT_TIMERS = 32

function M.luv()
  local uv = require("luv")
  local A = { now = monotonic, running = coroutine.isyieldable }
  local runq = run_queue(uv)
  local waits = setmetatable({}, { __mode = "k" }) -- coroutine -> { fd, cond, timer } of its wait
  local polls = {} -- fd -> { handle = its poll handle, co = the coroutine waiting on it or nil }
  local free_timers = {} -- { handle = timer, co = nil } kept stopped for the next waits
  -- Ends the wait of `co` (if it still waits) and queues it.
  local function wake(co)
    local w = co and waits[co]
    if not w or not w.waiting then return end
    w.waiting = false
    local p = w.fd and polls[w.fd]
    if p and p.co == co then
      p.co = nil
      p.handle:stop()
    end
    local t = w.timer
    if t then
      t.co = nil
      t.handle:stop()
    end
    if w.cond then w.cond.waiters[co] = nil end
    w.fd, w.cond = nil, nil
    runq.push(co)
  end
  function A.cond()
    local c = { waiters = {} } -- coroutine -> the wake function of its adapter
    function c.signal()
      -- (a wake only queues its coroutine and takes it out: none is added meanwhile)
      for co, f in next, c.waiters do f(co) end
    end
    return c
  end
  function A.wait(fd, events, deadline, cond)
    local co = coroutine.running()
    local ms = deadline and math.ceil((deadline - monotonic()) * 1000)
    if ms and ms <= 0 then -- due now: the loop's next turn resumes it
      runq.push(co)
      coroutine.yield()
      return
    end
    local w = waits[co]
    if not w then
      w = {}
      waits[co] = w
    end
    w.waiting = true
    if fd then
      local p = polls[fd]
      if not p then
        p = { handle = uv.new_poll(fd) }
        function p.cb() wake(p.co) end
        polls[fd] = p
      end
      p.co = co
      p.handle:start(events or "r", p.cb)
      w.fd = fd
    end
    if ms then
      local n = #free_timers
      local t = free_timers[n]
      if t then
        free_timers[n] = nil
      else
        t = { handle = uv.new_timer() }
        function t.cb() wake(t.co) end
      end
      t.co = co
      t.handle:start(ms, 0, t.cb)
      w.timer = t
    end
    if cond then
      cond.waiters[co] = wake
      w.cond = cond
    end
    coroutine.yield()
    -- (resumed by the run queue: inside the loop's run, where a closed handle's callback runs
    -- later; luv 1.44 crashes at exit on a handle closed after the loop's last run)
    local t = w.timer
    if t then
      w.timer = nil
      if #free_timers < KEPT_TIMERS then free_timers[#free_timers + 1] = t else t.handle:close() end
    end
  end
  -- the client closes this socket: its poll handle stops first (libuv must not poll a closed
  -- descriptor), and its waiter wakes on the loop's next turn (never inside the closing
  -- coroutine). The handle stays for the next socket given that number (closing it here,
  -- where a program closes its clients before it exits, crashed luv 1.44 at exit).
  function A.forget(fd)
    local p = polls[fd]
    if p then wake(p.co) end
  end
  --- Runs f in a coroutine of its own on the loop's next turn.
  function A.spawn(f) runq.push(coroutine.create(f)) end
  return A
end

-- The adapters made so far: one per loop name and one per adapter table, shared by every
-- client on it (an adapter holds no client's state; each client making its own took about
-- half a KiB of closures per client).
local made = setmetatable({}, { __mode = "k" })

--- loop.adapter(loop) -> the adapter table for `loop` ("cqueues", "luv" or an adapter table).
function M.adapter(loop)
  local a = made[loop]
  if a then return a end
  if loop == "cqueues" then
    a = M.cqueues()
  elseif loop == "luv" then
    a = M.luv()
  elseif type(loop) == "table" and type(loop.now) == "function" and type(loop.wait) == "function"
      and type(loop.cond) == "function" then
    a = { now = loop.now, wait = loop.wait, cond = loop.cond, forget = loop.forget, spawn = loop.spawn,
      running = loop.running or coroutine.isyieldable }
  end
  if a then
    made[loop] = a
    return a
  end
  error("bad argument #1 to 'mtproto.client' (loop: expected \"cqueues\", \"luv\" or a table " ..
    "with now, wait and cond functions)", 0)
end

return M
