-- Update handlers may raise, call the client, or close it: the client survives all three.
local helpers = require("helpers")
local mtproto = require("mtproto")

local signed_in = helpers.signed_in

describe("updates: handlers", function()
  local T = helpers.use_testdc{ dcs = 2, push_updates = 20 }

  it("a handler that raises is logged; the next handlers and updates still run", function()
    local logs = {}
    local client = signed_in(T.dc, "9996629001", { log_level = "error", logger = function(level, m)
      logs[#logs + 1] = level .. " " .. m
    end })
    local n, after = 0, 0
    client:on_update(function()
      n = n + 1
      if n <= 2 then error("handler bug " .. n) end
    end)
    client:on_update(function() after = after + 1 end)
    assert.is_true(client:run(0.4))
    assert.is_true(n >= 5, "updates stopped after the handler raised (" .. n .. ")")
    assert.equal(n, after)
    assert.equal(2, #logs)
    assert.truthy(logs[1]:find("^error update handler failed on updateNewMessage: .*handler bug 1"), logs[1])
    assert.truthy(logs[2]:find("handler bug 2"), logs[2])
    client:close()
  end)

  it("a handler may call the client: no dispatch inside, the updates that come meanwhile follow in order", function()
    local client = signed_in(T.dc, "9996629002")
    local depth, max_depth, texts = 0, 0, {}
    client:on_update(function(u)
      depth = depth + 1
      max_depth = math.max(max_depth, depth)
      texts[#texts + 1] = u.message.message
      if #texts <= 3 then
        -- a call that takes a while, so that pushes arrive during it
        assert(client.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "reply " .. #texts,
          random_id = #texts })
        mtproto.core.conn.sleep(0.05)
        assert(client.help.getNearestDc{})
      end
      depth = depth - 1
    end)
    assert.is_true(client:run(0.5))
    assert.equal(1, max_depth)
    -- each update once; the replies (sent messages) and the pushes in pts order
    local pushes, replies = {}, 0
    for _, t in ipairs(texts) do
      local k = t:match("^update (%d+)$")
      if k then pushes[#pushes + 1] = tonumber(k) elseif t:find("^reply") then replies = replies + 1 end
    end
    for i = 1, #pushes do assert.equal(i, pushes[i]) end
    assert.equal(3, replies)
    local run_err
    client:on_update(function()
      if run_err == nil then run_err = select(2, pcall(client.run, client, 1)) end
    end)
    assert.is_true(client:run(0.2))
    assert.truthy(tostring(run_err):find("mtproto: client:run%(%) cannot be called from an update handler"), run_err)
    client:close()
  end)

  it("a handler may close the client: run() ends, nothing more is dispatched", function()
    local client = signed_in(T.dc, "9996629003")
    local n = 0
    client:on_update(function() n = n + 1; client:close() end)
    client:on_update(function() error("called after the client was closed") end)
    assert.is_true(client:run(1))
    assert.equal(1, n)
    assert.equal("mtproto.client (closed)", tostring(client))
    assert.has_error(function() client:run(0.1) end, "mtproto: attempt to use a closed client")
  end)

  it("a handler may close the client while a call dispatches: the call still returns its answer", function()
    local client = signed_in(T.dc, "9996629004")
    assert(client.updates.getState{})
    mtproto.core.conn.sleep(0.1) -- pushes wait in the socket
    local n = 0
    client:on_update(function() n = n + 1; client:close() end)
    local r = assert(client.help.getNearestDc{})
    assert.equal("nearestDc", r._)
    assert.equal(1, n)
  end)
end)
