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

--- luv: a poll handle for the socket and a timer for the deadline, made for each wait (the
-- socket changes on reconnects, and libuv wants one poll handle per socket at a time).
-- A wait that is over (its socket ready, its deadline passed, its condition signalled) does
-- not resume its coroutine from the handle's callback: it queues it on the loop's run queue
-- (see run_queue), so the coroutines run on the loop's turns, a few milliseconds at a time,
-- never inside the signaller and never all in one of libuv's phases. (A connect refused while
-- polled: libuv reports EPOLLERR to the callback as EBADF and luv prints it on stderr; the
-- wake-up is all we take from it, the pump reads the socket's own error.)
function M.luv()
  local uv = require("luv")
  local A = { now = monotonic, running = coroutine.isyieldable }
  local runq = run_queue(uv)
  local polling = {} -- fd -> the wake function of the wait polling it
  function A.cond()
    local c = { waiters = {} }
    function c.signal()
      if not next(c.waiters) then return end
      local wake = c.waiters
      c.waiters = {}
      for _, f in pairs(wake) do f() end
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
    local poll, timer, done
    local function wake()
      if done then return end
      done = true
      if poll then
        poll:stop()
        poll:close()
        -- (the adapter is shared: the number may be another wait's already, after a forget)
        if polling[fd] == wake then polling[fd] = nil end
      end
      if timer then timer:stop(); timer:close() end
      if cond then cond.waiters[co] = nil end
      runq.push(co)
    end
    if fd then
      poll = uv.new_poll(fd)
      poll:start(events or "r", wake)
      polling[fd] = wake
    end
    if ms then
      timer = uv.new_timer()
      timer:start(ms, 0, wake)
    end
    if cond then cond.waiters[co] = wake end
    coroutine.yield()
  end
  -- the client closes this socket: its poll handle goes first (libuv must not poll a closed
  -- descriptor), and its waiter wakes on the loop's next turn (never inside the closing
  -- coroutine)
  function A.forget(fd)
    local wake = polling[fd]
    if wake then wake() end
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
