-- The luv adapter's waits make no garbage: a descriptor's poll handle stays between waits
-- (stopped), timers go back to a few kept, each coroutine has one table for its waits. New
-- handles and a closure per wait were half a KiB each, with finalizers, for every client step.
-- What it must still do: wake every waiter however many wait at once, poll a new socket that
-- got a forgotten one's number, and let the program exit after its clients are closed outside
-- the loop (a handle closed after the loop's last run crashed luv 1.44 at exit).
local helpers = require("helpers")
local have_uv = pcall(require, "luv")

describe("loop (luv): waits keep their handles", function()
  if not have_uv then pending("luv is not installed") return end
  local uv = require("luv")
  local loops = require("mtproto.loop")

  it("a wait on a socket, a deadline and a condition makes no garbage", function()
    local A = loops.adapter("luv")
    local pipe = uv.pipe()
    local c = A.cond()
    local used
    helpers.under_loop("luv", function()
      A.wait(pipe.write, "w", A.now() + 5, c) -- the first makes the coroutine's table and handles
      A.wait(nil, nil, A.now() + 0.001)
      collectgarbage("stop")
      local k0 = collectgarbage("count")
      for _ = 1, 100 do
        A.wait(pipe.write, "w", A.now() + 5, c)
        A.wait(nil, nil, A.now() + 0.001, c)
      end
      used = (collectgarbage("count") - k0) * 1024
      collectgarbage("restart")
    end)
    A.forget(pipe.write)
    uv.fs_close(pipe.read)
    uv.fs_close(pipe.write)
    assert.is_true(used < 1024, ("200 waits made %d bytes"):format(used))
  end)

  it("wakes every one of many coroutines waiting at once, twice (timers kept and reused)", function()
    local A = loops.adapter("luv")
    local woken = 0
    for _ = 1, 2 do
      local c = A.cond()
      for i = 1, 100 do
        A.spawn(function()
          -- half by their deadline, half by the condition
          A.wait(nil, nil, A.now() + (i % 2 == 0 and 0.01 or 30), i % 2 == 1 and c or nil)
          woken = woken + 1
        end)
      end
      A.spawn(function()
        A.wait(nil, nil, A.now() + 0.02)
        c.signal()
      end)
      uv.run()
    end
    assert.equal(200, woken)
  end)

  it("polls a new socket given the number of a forgotten one", function()
    local A = loops.adapter("luv")
    local first = uv.pipe()
    local fd = first.read
    local waited
    helpers.under_loop("luv", function()
      A.wait(first.write, "w", A.now() + 5) -- writable: returns at once
      A.spawn(function() A.wait(fd, "r", A.now() + 30) end) -- nothing to read: waits
      A.wait(nil, nil, A.now() + 0.01)
      A.forget(fd) -- the waiter wakes; the number is closed
      uv.fs_close(first.read)
      uv.fs_close(first.write)
      local second = uv.pipe() -- the lowest free numbers again
      assert.equal(fd, second.read)
      uv.fs_write(second.write, "x")
      local t0 = A.now()
      A.wait(second.read, "r", A.now() + 30)
      waited = A.now() - t0
      A.forget(second.read)
      uv.fs_close(second.read)
      uv.fs_close(second.write)
    end)
    assert.is_true(waited < 10, ("the readable socket was seen after %.1f s"):format(waited))
  end)

  it("the program exits cleanly after forgetting its sockets outside the loop", function()
    local out, status = helpers.run_lua([[
      local uv = require("luv")
      local A = require("mtproto.loop").adapter("luv")
      local pipe = uv.pipe()
      coroutine.wrap(function()
        A.wait(pipe.write, "w", A.now() + 5)
        A.wait(nil, nil, A.now() + 0.01)
      end)()
      uv.run()
      -- what closing a client does, after the loop's last run
      A.forget(pipe.write)
      uv.fs_close(pipe.read)
      uv.fs_close(pipe.write)
      print("done")
    ]])
    assert.equal("done\n", out)
    assert.equal(0, status)
  end)
end)
