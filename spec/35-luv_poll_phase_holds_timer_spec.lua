-- The luv adapter resumed a coroutine straight from its poll handle's callback: when the
-- sockets of many coroutines became ready together (1,000 clients' answers), libuv ran all
-- of them in one poll phase, and a 10 ms timer beside them waited for the whole batch
-- (459 ms with 1,000 clients). The woken coroutines now go to the loop's run queue, which
-- resumes them a few milliseconds per turn of the loop: the timer runs between the turns.
local have_uv = pcall(require, "luv")

describe("loop (luv): many coroutines woken in one poll phase", function()
  if not have_uv then pending("luv is not installed") return end

  it("run a few milliseconds per turn: a 10 ms timer beside them stays on time", function()
    local uv = require("luv")
    local A = require("mtproto.loop").adapter("luv")
    local N, STEP = 300, 0.002 -- 0.6 s of steps, all due at once
    local pipes = {}
    for i = 1, N do pipes[i] = assert(uv.pipe()) end
    local waiting, woken, busy = 0, 0, 0
    for i = 1, N do
      A.spawn(function()
        waiting = waiting + 1
        A.wait(pipes[i].read, "r", A.now() + 30)
        woken = woken + 1
        local t = A.now()
        while A.now() - t < STEP do end -- a client's step: its answer read and the next call
        busy = busy + (A.now() - t)
      end)
    end
    -- once every coroutine waits, one callback makes all the pipes readable: the next poll
    -- phase sees them all
    local writer = uv.new_timer()
    writer:start(20, 20, function()
      if waiting < N then return end
      writer:close()
      for i = 1, N do uv.fs_write(pipes[i].write, "x") end
    end)
    local late, ticks = 0, 0
    local ticker = uv.new_timer()
    local function arm()
      local t0 = A.now()
      ticker:start(10, 0, function()
        ticks = ticks + 1
        late = math.max(late, A.now() - t0 - 0.01)
        if woken < N or busy < N * STEP then arm() else ticker:close() end
      end)
    end
    arm()
    uv.run()
    for i = 1, N do
      uv.fs_close(pipes[i].read)
      uv.fs_close(pipes[i].write)
    end
    assert.equals(N, woken)
    assert.is_true(busy >= N * STEP, ("%.0f ms of steps"):format(busy * 1000))
    print(("\nluv: %d coroutines woken together, %.0f ms of steps: worst timer lateness %.1f ms, %d ticks")
      :format(N, busy * 1000, late * 1000, ticks))
    -- resumed in the poll phase, it was late by all the steps together; the bound is generous
    -- for a loaded machine, where the steps' wall time (and the lateness) grow together
    assert.is_true(late < math.max(0.2, busy / 4), ("a tick came %.0f ms late"):format(late * 1000))
  end)
end)
