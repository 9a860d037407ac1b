-- `mtproto login` through a pseudo-terminal (util-linux's script), answering each prompt only
-- once it is shown, as a person would: the email-code account, the email-setup account, the
-- two-step-verification password (read without echo: what is typed at the password prompt never
-- shows, while the phone number typed before it does) and the sign-up prompts. Test numbers
-- 99966XKYYY live on DC X, every code is X five times; K picks the path (src/testdc/tdc_login.c).
local helpers = require("helpers")

local CMD = helpers.LUA .. " " .. helpers.ROOT .. "/bin/mtproto --test-dc login"

local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i, j = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

-- Runs the login in a terminal; `dialog` is a list of { prompt, answer }: each answer is typed
-- once its prompt has been shown one more time. Returns everything the terminal showed and
-- the exit status.
local function login(dialog)
  local fifo, out, status = helpers.tmpname(), helpers.tmpname(), helpers.tmpname()
  assert(os.execute("mkfifo '" .. fifo .. "'"))
  -- util-linux's script is not ours: under the sanitizer preload its own leak would fail the
  -- run, so leak checks are off for it and back on for the command inside (as in spec 70)
  local inner, outer_env = CMD, ""
  local asan = os.getenv("ASAN_OPTIONS")
  if asan then
    inner = ("env ASAN_OPTIONS=%s %s"):format(asan, inner)
    outer_env = "env ASAN_OPTIONS=detect_leaks=0 "
  end
  assert(os.execute(("( timeout 60 %sscript -q -e -c %q /dev/null < '%s' > '%s' 2>&1; echo $? > '%s' ) &")
    :format(outer_env, inner, fifo, out, status)))
  local keys = assert(io.open(fifo, "w"))                   -- opens once script's shell reads it
  local seen = {}
  for _, step in ipairs(dialog) do
    local prompt, answer = step[1], step[2]
    seen[prompt] = (seen[prompt] or 0) + 1
    local shown = helpers.eventually(function() return count(helpers.slurp(out) or "", prompt) >= seen[prompt] end, 30)
    if not shown then
      keys:close()
      error(("no prompt %q (#%d) in:\n%s"):format(prompt, seen[prompt], helpers.slurp(out) or ""), 2)
    end
    keys:write(answer, "\n")
    keys:flush()
  end
  helpers.eventually(function() return (helpers.slurp(status) or "") ~= "" end, 60)
  keys:close()
  local text, code = helpers.slurp(out) or "", tonumber(helpers.slurp(status))
  os.remove(fifo); os.remove(out); os.remove(status)
  return text, code
end

describe("mtproto login in a terminal", function()
  it("reads the password without echo, asks again after a wrong one", function()
    local text, status = login{
      { "phone number: ", "9996622345" },
      { "code (empty: send it again): ", "22222" },
      { "password: ", "not-the-password" },
      { "password: ", "testpass" },
    }
    assert.equal(0, status, text)
    assert.matches("phone number: 9996622345", text, 1, true)         -- typed text shows ...
    assert.matches("22222", text, 1, true)
    assert.is_nil(text:find("not-the-password", 1, true), text)       -- ... but not at the password
    -- the test account's hint is the password itself: it shows only as the hint
    assert.equal(count(text, "password hint: testpass"), count(text, "testpass"), text)
    assert.matches("PASSWORD_HASH_INVALID", text, 1, true)
    assert.matches("signed in as %S+ %(id 9996622346%)", text)
  end)

  it("signs up a new account: first and last name", function()
    local text, status = login{
      { "phone number: ", "9996623345" },
      { "code (empty: send it again): ", "22222" },
      { "new account, first name: ", "Ada" },
      { "last name (may be empty): ", "Lovelace" },
    }
    assert.equal(0, status, text)
    assert.matches("login: wait_registration", text, 1, true)
    assert.matches("signed in as Ada %(id 9996623346%)", text)
  end)

  it("sets up a login email, then signs in with the email code", function()
    local text, status = login{
      { "phone number: ", "9996624345" },
      { "login email address: ", "not an address" },
      { "login email address: ", "ada@example.org" },
      { "email code: ", "22222" },                        -- verifies the address
      { "email code: ", "22222" },                        -- the login code sent to it
    }
    assert.equal(0, status, text)
    assert.matches("EMAIL_INVALID", text, 1, true)
    assert.matches("ada@example.org", text, 1, true)
    assert.matches("signed in as %S+ %(id 9996624346%)", text)
  end)

  it("signs in with the code sent to the login email, after a wrong one", function()
    local text, status = login{
      { "phone number: ", "9996626345" },
      { "email code: ", "11111" },
      { "email code: ", "22222" },
    }
    assert.equal(0, status, text)
    assert.matches("login: wait_email_code", text, 1, true)
    assert.matches("EMAIL_CODE_INVALID", text, 1, true)
    assert.matches("signed in as %S+ %(id 9996626346%)", text)
  end)
end)
