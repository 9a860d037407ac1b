describe("the C module", function()
  it("loads under Lua 5.4 with every part of the core", function()
    assert.equal("Lua 5.4", _VERSION)
    local core = require("mtproto.core")
    for _, part in ipairs { "tl", "crypto", "auth", "transport", "session", "conn" } do
      assert.is_table(core[part], part)
    end
  end)
end)
