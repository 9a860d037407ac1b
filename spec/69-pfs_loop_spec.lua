-- pfs under an event loop (cqueues): the keys are made and bound from inside the loop, a
-- temporary key the DC forgot (its own, shorter limit: -404) is replaced and the call goes
-- through, and the renewal before expiry happens there too; a second client on the saved
-- session reuses the bound key without a handshake. (spec/95 walks the login ladder and a
-- migration in loops with pfs on.)
local helpers = require("helpers")
local have_cq, cqueues = pcall(require, "cqueues")

local test = have_cq and it or pending

-- Runs fn() inside a cqueues controller; returns what it returns (raises what it raises).
local function in_cqueues(fn)
  local cq = cqueues.new()
  local r
  cq:wrap(function() r = table.pack(pcall(fn)) end)
  assert(cq:loop())
  assert(r[1], r[2])
  return table.unpack(r, 2, r.n)
end

describe("pfs under cqueues", function()
  test("binds, replaces a key the DC forgot (-404), renews before expiry, and reuses a saved key", function()
    local dc, count, stop = helpers.logged_dc{ dcs = 1, temp_key_ttl = 2 }
    local path = os.tmpname()
    os.remove(path)
    in_cqueues(function()
      local c = helpers.client(dc, { dc = 1, loop = "cqueues", session = path })
      assert(c.help.getNearestDc{})
      assert.equal(1, count("temporary key %x+ bound to"))
      cqueues.sleep(2.3)      -- the DC forgot the key (its 2 s limit); the client thinks it has a day
      assert.equal("nearestDc", assert(c.help.getNearestDc{})._)
      assert.equal(1, count("expired: %-404"))
      assert.equal(2, count("temporary key %x+ bound to"))
      c:close()
      local c2 = helpers.client(dc, { dc = 1, loop = "cqueues", session = path })
      assert(c2.help.getNearestDc{})
      assert.equal(2, count("temporary key %x+ bound to"))   -- the saved key, still bound
      c2:close()
      local c3 = helpers.client(dc, { dc = 1, loop = "cqueues", pfs = { expires_in = 3 } })
      assert(c3.help.getNearestDc{})
      cqueues.sleep(2.8)      -- within the last tenth of its life: replaced before the call
      assert(c3.help.getNearestDc{})
      assert.equal(4, count("temporary key %x+ bound to"))
      assert.equal(1, count("expired: %-404"))
      c3:close()
    end)
    stop()
    os.remove(path)
  end)
end)
