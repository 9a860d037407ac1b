-- The luv adapter's wake-ups that are due at once (a condition signalled, a wait whose
-- deadline has passed: the handshake's next piece of math) go through the loop: coroutines
-- that keep waking each other, or keep waiting for "now", must not starve a timer beside
-- them. They used zero-delay timers, which libuv runs in the same timer phase when they are
-- started there: the chain ran to its end before any other timer (or socket) was served.
local helpers = require("helpers")
local have_uv = pcall(require, "luv")

local function chained(wait_for)
  local loops = require("mtproto.loop")
  local A = loops.adapter("luv")
  local stats = { ticks = 0, late = 0 }
  local ticks_during, spins = nil, 0
  local busy = true
  helpers.run_ticking("luv", function()
    local t0 = A.now()
    local ticks0 = stats.ticks
    wait_for(A, function() spins = spins + 1; return A.now() - t0 < 0.3 end)
    ticks_during = stats.ticks - ticks0
    busy = false
  end, stats, function() return not busy end)
  return ticks_during, spins
end

describe("loop (luv): wake-ups due at once", function()
  if not have_uv then pending("luv is not installed") return end

  it("a wait whose deadline is now returns to the loop: a 10 ms timer keeps ticking", function()
    local ticks, spins = chained(function(A, more)
      while more() do A.wait(nil, nil, A.now()) end
    end)
    assert.is_true(spins > 10, spins .. " waits")
    assert.is_true(ticks >= 5, "the timer ticked " .. ticks .. " times in 0.3 s of waits for now")
  end)

  it("two coroutines signalling each other do not starve a 10 ms timer", function()
    local ticks, spins = chained(function(A, more)
      local ping, pong = A.cond(), A.cond()
      local running, ready = true, false
      A.spawn(function()
        ready = true
        while running do A.wait(nil, nil, nil, ping); pong.signal() end
      end)
      while not ready do A.wait(nil, nil, A.now() + 0.001) end -- the other one waits on ping now
      while more() do
        ping.signal()
        A.wait(nil, nil, A.now() + 1, pong)
      end
      running = false
      ping.signal()
    end)
    assert.is_true(spins > 10, spins .. " round trips")
    assert.is_true(ticks >= 5, "the timer ticked " .. ticks .. " times in 0.3 s of signals")
  end)
end)
