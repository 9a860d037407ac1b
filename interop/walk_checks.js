"use strict";
// What every interop script records and checks, whatever the client: the steps of a walk, its
// checks and failures (kept in a `result` object the script prints), and the checks on an
// auth.sentCode. Each script says how its client names an answer and an error.

// A walk's checks, recorded in `result` ({checks, failures, steps}).
//   client.nameOf(answer)       the name a step records for an answer (class or constructor)
//   client.errorOf(answer)      { code, message } when an answer is an rpc_error object, else undefined
//   client.describeError(e)     { code, message } of a thrown error
function checker(result, client) {
    const check = (step, cond, what) => {
        result.checks++;
        if (!cond) {
            result.failures.push(`${step}: ${what}`);
        }
    };
    return {
        check,
        // Runs `fn`, records its outcome as a step: { step, result: name } or { step, error }.
        async step(name, fn) {
            const rec = { step: name };
            result.steps.push(rec);
            try {
                const r = await fn();
                const err = client.errorOf && client.errorOf(r);
                if (err) {
                    rec.error = err;
                    return { error: err };
                }
                rec.result = r && client.nameOf(r);
                return { value: r };
            } catch (e) {
                rec.error = client.describeError(e);
                return { error: rec.error };
            }
        },
        expectError(name, r, code, message) {
            check(name, r.error !== undefined, `expected ${code} ${message}, got a result`);
            if (r.error) {
                check(name, r.error.code === code && r.error.message === message,
                    `expected ${code} ${message}, got ${r.error.code} ${r.error.message}`);
            }
        },
        expectValue(name, r) {
            check(name, r.error === undefined, r.error ? `unexpected error ${r.error.code} ${r.error.message}` : "");
            return r.value;
        },
        // One auth.sentCode, as { name, type, length, pattern, hash, nextType, timeout } (the
        // client's names for the types): its type (and length or pattern), next_type, timeout.
        // `nextType` null: the last step, without next_type and timeout.
        checkSentCode(name, sc, want, type, nextType) {
            if (!sc) {
                return;
            }
            check(name, sc.name === want, `got ${sc.name}`);
            check(name, sc.type === type, `type ${sc.type}, want ${type}`);
            if (/FlashCall$/.test(type)) {
                check(name, typeof sc.pattern === "string" && sc.pattern.length > 0, "empty flash call pattern");
            } else {
                check(name, sc.length === 5, `code length ${sc.length}`);
            }
            check(name, typeof sc.hash === "string" && sc.hash.length > 0, "empty phone_code_hash");
            if (nextType) {
                check(name, sc.nextType === nextType, `next_type ${sc.nextType}, want ${nextType}`);
                check(name, Number.isInteger(sc.timeout) && sc.timeout > 0, `timeout ${sc.timeout}`);
            } else {
                check(name, sc.nextType === undefined || sc.nextType === null, `next_type ${sc.nextType} on the last step`);
                check(name, sc.timeout === undefined || sc.timeout === null, `timeout ${sc.timeout} on the last step`);
            }
        },
    };
}

module.exports = { checker };
