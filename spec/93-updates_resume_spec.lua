-- The update state lives in the session file: a second process that opens it asks for the
-- difference first and gets what happened while no process had the session open (in slices,
-- or as differenceTooLong when the server no longer has it all).
local helpers = require("helpers")

-- Runs a second Lua process on the session file: it prints what on_update got and its state.
local CHILD = [[
local mtproto = require("mtproto")
local host, port, pem_file, path = ...
local f = assert(io.open(pem_file)); local pem = f:read("a"); f:close()
local client = assert(mtproto.client{ api_id = 12345, api_hash = "0123456789abcdef0123456789abcdef",
  dc_options = { [2] = { host = host, port = tonumber(port) } }, rsa_keys = { pem }, session = path })
client:on_update(function(u)
  if u._ == "updateNewMessage" then print("msg " .. u.message.message)
  else print("update " .. u._) end
end)
assert(client:run(0.3))
print("pts " .. client:session_info().updates.pts)
client:close()
]]

local function child(dc, path)
  local script, pem_file = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w")); f:write(CHILD); f:close()
  f = assert(io.open(pem_file, "w")); f:write(dc.pem); f:close()
  local p = assert(io.popen(("lua5.4 %s %s %d %s %s 2>&1"):format(script, dc.host, dc.ports[2], pem_file, path)))
  local out = p:read("a")
  p:close()
  os.remove(script)
  os.remove(pem_file)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

local signed_in = helpers.signed_in

local function send_many(client, n, prefix)
  local list = {}
  for i = 1, n do
    list[i] = { _ = "messages.sendMessage", peer = { _ = "inputPeerSelf" }, message = prefix .. i, random_id = i }
  end
  for i, r in ipairs(client:invoke_all(list)) do
    assert.equal("updateShortSentMessage", r._, "message " .. i .. ": " .. tostring(r))
  end
end

describe("updates: the state in the session file", function()
  it("is saved, and a second process resumes from it with getDifference (slices)", function()
    local dc = helpers.start_testdc{ dcs = 2, diff_slice = 3 }
    local path = os.tmpname()
    os.remove(path)
    local first = signed_in(dc, "9996625001", { session = path })
    assert(first.updates.getState{}) -- fetches the state, saved at close
    local pts = first:session_info().updates.pts
    first:close()
    local text = helpers.slurp(path)
    assert.truthy(text:find("\nupdates " .. pts .. " 0 %d+ %d+\n"), text)
    local other = signed_in(dc, "9996625001") -- another key of the account, no session file
    send_many(other, 7, "offline ")
    local lines = child(dc, path)
    local want = {}
    for i = 1, 7 do want[i] = "msg offline " .. i end
    want[8] = "pts " .. (pts + 7)
    assert.same(want, lines)
    -- the child saved the state it reached: nothing is delivered twice
    assert.same({ "pts " .. (pts + 7) }, child(dc, path))
    other:close()
    dc:stop()
    os.remove(path)
  end)

  it("tells the handlers when the difference is too long, and moves on", function()
    local dc = helpers.start_testdc{ dcs = 2 }
    local path = os.tmpname()
    os.remove(path)
    local first = signed_in(dc, "9996625002", { session = path })
    assert(first.updates.getState{})
    local pts = first:session_info().updates.pts
    first:close()
    local other = signed_in(dc, "9996625002")
    send_many(other, 300, "m") -- more than the 256 updates the test DC keeps
    local lines = child(dc, path)
    assert.same({ "update updates.differenceTooLong", "pts " .. (pts + 300) }, lines)
    other:close()
    dc:stop()
    os.remove(path)
  end)

  it("refuses a session file with a bad updates line", function()
    local path = os.tmpname()
    local sf = require("mtproto.session_file")
    local text = sf.encode{ home_dc = 2, dcs = {}, updates = { pts = 5, qts = 0, date = 1, seq = 2 },
      channels = { [555] = { pts = 20, access_hash = -99 } } }
    assert.truthy(text:find("\nupdates 5 0 1 2\nchannel 555 20 %-99\n"))
    local d = assert(sf.decode(text))
    assert.same({ pts = 5, qts = 0, date = 1, seq = 2 }, d.updates)
    assert.same({ [555] = { pts = 20, access_hash = -99 } }, d.channels)
    local function refused(from, to, why)
      local bad = text:gsub(from, to):gsub("crc32 %x+\n$", "")
      bad = bad .. ("crc32 %08x\n"):format(sf.crc32(bad))
      local r, err = sf.decode(bad, path)
      assert.is_nil(r)
      assert.equal("SESSION_CORRUPT", err.message)
      assert.truthy(err.detail:find(why, 1, true), err.detail)
    end
    refused("updates 5 0 1 2", "updates 5 x 1 2", "bad updates line")
    refused("updates 5 0 1 2", "updates 5 0 1 2147483648", "updates: seq out of range (2147483648)")
    refused("channel 555 20 %-99\n", "channel 555 20 -99\nchannel 555 21 -99\n", "channel 555 appears twice")
    refused("channel 555 20", "channel 0 20", "the channel id must be a positive integer")
    os.remove(path)
  end)
end)
