-- A host name whose resolver never answers: the lookup is part of the call and bounded by its
-- timeout, and it never holds an event loop. getaddrinfo used to run in the calling thread
-- and block until the resolver gave up (20 s with a silent name server, for ever here).
-- A real silent name server cannot be set up without root (the resolver reads only
-- /etc/resolv.conf), so a preloaded getaddrinfo stands in for it: it blocks for ever for
-- names ending in ".stall.invalid" (spec/fixtures/stall_getaddrinfo.c).
local helpers = require("helpers")

local have_cq = pcall(require, "cqueues")
local have_uv = pcall(require, "luv")
local HAVE = { blocking = true, cqueues = have_cq, luv = have_uv }

describe("a host name whose resolver never answers", function()
  local dir, shim
  lazy_setup(function()
    dir = helpers.tmpdir()
    shim = dir .. "/stall_getaddrinfo.so"
    local cc = os.getenv("CC") or "cc"
    -- built without the sanitizer preload of make test SANITIZE=1 (the compiler's own leaks)
    assert(os.execute(("env -u LD_PRELOAD %s -shared -fPIC -O1 -o '%s' '%s/spec/fixtures/stall_getaddrinfo.c' -ldl")
      :format(cc, shim, helpers.ROOT)), "cannot build the stalled getaddrinfo")
  end)
  lazy_teardown(function()
    if shim then os.remove(shim) end
    if dir then os.remove(dir) end
  end)

  for _, mode in ipairs{ "blocking", "cqueues", "luv" } do
    local test = HAVE[mode] and it or pending
    test(mode .. ": a call with timeout = 0.5 ends after 0.5 s, so does client:send", function()
      -- ASan (make test SANITIZE=1) must stay first in LD_PRELOAD
      local preload = ((os.getenv("LD_PRELOAD") or "") .. " " .. shim):gsub("^ ", "")
      local p = assert(io.popen(("cd '%s' && LD_PRELOAD='%s' timeout 30 %s spec/fixtures/stalled_lookup.lua %s 2>&1")
        :format(helpers.ROOT, preload, helpers.LUA, mode)))
      local out = p:read("a")
      local ok = p:close()
      assert(ok, "the child did not finish in 30 s (a lookup held it): " .. out)
      local im, it_, st, wm, wt = out:match("invoke=(%S+) ([%d.]+) send=([%d.]+) wait=(%S+) ([%d.]+)")
      assert(im, out)
      assert.equal("TIMEOUT", im)
      assert.equal("TIMEOUT", wm)
      assert(tonumber(it_) < 2.5, "the call took " .. it_ .. " s")
      assert(tonumber(st) < 2.5, "send blocked " .. st .. " s")    -- (the pfs set-up: up to 0.5 s)
      assert(tonumber(wt) < 2.5, "send + wait took " .. wt .. " s")
    end)
  end
end)
