// The Context Registry through the official TypeScript MCP SDK (`@modelcontextprotocol/sdk`),
// the client library most desktop clients are built on: one short stdio session against the
// real `backoffice mcp` (path in BACKOFFICE_BIN).
//
// The SDK compiles every tool's outputSchema with ajv and logs through `console` what it does
// not understand (e.g. `unknown format "uint64" ignored in schema`); a client user sees those
// in their logs, so any console output from the SDK fails this test.
//
// The SDK is loaded from BACKOFFICE_TS_SDK (a node_modules directory) or, by default, from
// target/mcp-ts/node_modules, where .ci/run installs the version tests/mcp/package.json pins.
// Like the Python scripts here it prints "N passed, M failed" last and exits 1 on a failure;
// tests/registry.rs runs it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BINARY = path.resolve(ROOT, process.env.BACKOFFICE_BIN || 'target/debug/backoffice');
const SDK_MODULES = path.resolve(
    ROOT, process.env.BACKOFFICE_TS_SDK || path.join('target', 'mcp-ts', 'node_modules'));
const DEADLINE_MS = 20_000;
const REQUEST_MS = 5_000;
// StdioClientTransport.close() ends stdin, waits 2 s, then sends SIGTERM.
const SDK_KILL_AFTER_MS = 2_000;

const out = text => process.stdout.write(text + '\n');
let passed = 0;
let failed = 0;
const failures = [];

function check(name, condition, detail) {
    if (condition) {
        passed += 1;
        out(`ok   ${name}`);
    } else {
        failed += 1;
        const text = typeof detail === 'function' ? detail() : detail;
        failures.push(name);
        out(`FAIL ${name}${text === undefined ? '' : `\n     ${String(text).replace(/\n/g, '\n     ')}`}`);
    }
    return Boolean(condition);
}

// Everything the SDK (or anything it loads) writes through `console` from here on.
const sdkConsole = [];
for (const level of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
    console[level] = (...args) => {
        const text = args
            .map(a => (typeof a === 'string' ? a : a instanceof Error ? a.stack : safeJson(a)))
            .join(' ');
        sdkConsole.push(`console.${level}: ${text}`);
    };
}

function safeJson(value) {
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}

let sdkConsoleShown = false;
let serverStderr = '';
let stateDir;
let serverPid = null;
let serverClosed = false;

function finish(reason) {
    if (reason) {
        failed += 1;
        failures.push(reason);
        out(`FAIL ${reason}`);
    }
    if (serverPid && !serverClosed) {
        // Aborted mid-session: do not leave the server behind.
        try {
            process.kill(serverPid, 'SIGKILL');
        } catch {
            // already gone
        }
    }
    if (failed) {
        if (sdkConsole.length && !sdkConsoleShown) {
            out(`-- SDK console output (${sdkConsole.length}):\n${sdkConsole.join('\n')}`);
        }
        if (serverStderr) {
            out(`-- server stderr (last 4000 chars):\n${serverStderr.slice(-4000)}`);
        }
        if (stateDir) {
            out(`-- state dir kept: ${stateDir}`);
        }
    } else if (stateDir) {
        fs.rmSync(stateDir, { recursive: true, force: true });
    }
    if (!passed && !failed) {
        failed = 1;
    }
    out(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

const deadline = setTimeout(
    () => finish(`TIMEOUT: the session did not finish within ${DEADLINE_MS / 1000}s`), DEADLINE_MS);
process.on('unhandledRejection', error => finish(`unhandled rejection: ${error?.stack ?? error}`));
process.on('uncaughtException', error => finish(`uncaught exception: ${error?.stack ?? error}`));

function loadSdk() {
    const packageJson = path.join(SDK_MODULES, '@modelcontextprotocol', 'sdk', 'package.json');
    if (!fs.existsSync(packageJson)) {
        finish(`no @modelcontextprotocol/sdk under ${SDK_MODULES}: run .ci/run once (it installs it into target/mcp-ts) or set BACKOFFICE_TS_SDK to a node_modules directory that has it`);
    }
    const version = JSON.parse(fs.readFileSync(packageJson, 'utf8')).version;
    // Resolves through the package's `exports`, as `import '@modelcontextprotocol/sdk/...'` would.
    const require = createRequire(path.join(SDK_MODULES, 'resolve-from-here.js'));
    return {
        version,
        pinned: JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'mcp', 'package.json'), 'utf8'))
            .dependencies['@modelcontextprotocol/sdk'],
        Client: require('@modelcontextprotocol/sdk/client/index.js').Client,
        StdioClientTransport: require('@modelcontextprotocol/sdk/client/stdio.js').StdioClientTransport,
        ErrorCode: require('@modelcontextprotocol/sdk/types.js').ErrorCode,
    };
}

function serverEnv(state) {
    const env = Object.fromEntries(
        Object.entries(process.env).filter(([key]) => !key.startsWith('BACKOFFICE_')));
    env.BACKOFFICE_STATE = state;
    env.BACKOFFICE_CHANNEL = 'cursor';
    return env;
}

function textOf(result) {
    return (result.content ?? []).map(c => (c.type === 'text' ? c.text : '')).join('');
}

function sameJson(a, b) {
    // Key order does not matter: compare canonical forms.
    const canonical = value =>
        Array.isArray(value)
            ? value.map(canonical)
            : value && typeof value === 'object'
                ? Object.fromEntries(Object.keys(value).sort().map(k => [k, canonical(value[k])]))
                : value;
    return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** A tool call that must succeed with structured content mirrored in its text block. */
async function ok(client, name, args) {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_MS });
    const structured = result.structuredContent;
    check(`${name}: succeeds with structured content`,
        !result.isError && structured && typeof structured === 'object',
        () => `isError=${result.isError} text=${textOf(result)}`);
    let parsed;
    try {
        parsed = JSON.parse(textOf(result));
    } catch {
        parsed = undefined;
    }
    check(`${name}: text block is the structured content`, sameJson(parsed, structured),
        () => `text=${textOf(result)}`);
    return structured ?? {};
}

async function main() {
    const sdk = loadSdk();
    out(`typescript mcp sdk ${sdk.version} (pinned ${sdk.pinned}) from ${SDK_MODULES}`);
    check('installed SDK is the pinned version', sdk.version === sdk.pinned,
        `installed ${sdk.version}, tests/mcp/package.json pins ${sdk.pinned}: rerun .ci/run`);
    if (!fs.existsSync(BINARY)) {
        finish(`no binary at ${BINARY} (BACKOFFICE_BIN)`);
    }

    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'registry-ts-'));
    const transport = new sdk.StdioClientTransport({
        command: BINARY,
        args: ['mcp'],
        env: serverEnv(stateDir),
        stderr: 'pipe',
    });
    transport.stderr.on('data', chunk => {
        serverStderr += chunk.toString('utf8');
    });
    const client = new sdk.Client({ name: 'cursor-vscode', version: '1.0.0' });
    const protocolErrors = [];
    client.onerror = error => protocolErrors.push(error?.stack ?? String(error));
    let closedEvent = false;
    client.onclose = () => {
        closedEvent = true;
        serverClosed = true;
    };

    const connecting = client.connect(transport, { timeout: REQUEST_MS });
    // The pid is there once the process spawned, before the handshake ends.
    const spawned = setInterval(() => {
        serverPid ??= transport.pid;
    }, 5);
    try {
        await connecting;
    } finally {
        serverPid ??= transport.pid;
        clearInterval(spawned);
    }
    const pid = serverPid;
    check('connects and initializes', client.getServerVersion()?.name,
        () => `server info: ${safeJson(client.getServerVersion())}`);

    // Tools, with schemas the SDK compiles (this is where ajv complains about formats).
    const { tools } = await client.listTools(undefined, { timeout: REQUEST_MS });
    const names = tools.map(t => t.name).sort();
    const expected = ['card_answer', 'card_feedback', 'cards_due', 'conversation_log', 'extract', 'get_session', 'list_sessions'];
    check('lists every tool', sameJson(names, expected), `got ${safeJson(names)}`);
    for (const tool of tools) {
        check(`${tool.name}: inputSchema is an object schema`, tool.inputSchema?.type === 'object',
            () => safeJson(tool.inputSchema));
        check(`${tool.name}: has an object outputSchema`, tool.outputSchema?.type === 'object',
            () => safeJson(tool.outputSchema));
    }

    // Log a conversation (the SDK also validates each structured result against its schema).
    const logged = await ok(client, 'conversation_log', {
        messages: [
            { role: 'user', content: '배포 전략을 blue-green으로 하기로 했다' },
            { role: 'assistant', content: 'Decided: blue-green deploys' },
        ],
    });
    const sessionId = logged.session_id;
    check('conversation_log: returns a session_id', typeof sessionId === 'string' && sessionId.length > 0,
        () => safeJson(logged));
    check('conversation_log: added 2, new session, 2 in total, channel cursor',
        logged.added === 2 && logged.created === true && logged.duplicates === 0
            && logged.total_messages === 2 && logged.channel === 'cursor',
        () => safeJson(logged));

    const found = await ok(client, 'extract', { query: 'blue-green' });
    const hits = Array.isArray(found.hits) ? found.hits : [];
    check('extract: finds the logged session', hits.some(h => h.session_id === sessionId),
        () => safeJson(found));

    const session = await ok(client, 'get_session', { session_id: sessionId });
    const messages = Array.isArray(session.messages) ? session.messages : [];
    check('get_session: both messages, in order, complete',
        messages.length === 2 && messages[0].role === 'user'
            && messages[0].content === '배포 전략을 blue-green으로 하기로 했다'
            && messages[1].role === 'assistant' && messages[1].content === 'Decided: blue-green deploys'
            && session.complete === true && session.session?.session_id === sessionId
            && session.session?.message_count === 2,
        () => safeJson(session));

    const listed = await ok(client, 'list_sessions', {});
    check('list_sessions: lists the session',
        (listed.sessions ?? []).some(s => s.session_id === sessionId && s.message_count === 2),
        () => safeJson(listed));

    // A bad argument is a tool error (isError), not a protocol error.
    try {
        const empty = await client.callTool(
            { name: 'extract', arguments: { query: '' } }, undefined, { timeout: REQUEST_MS });
        check('extract with an empty query: a tool error', empty.isError === true && textOf(empty).length > 0,
            () => safeJson(empty));
    } catch (error) {
        check('extract with an empty query: a tool error', false,
            `threw instead of returning isError: ${error?.stack ?? error}`);
    }

    // An unknown tool: any error will do, as long as it is an answer and not a hang.
    const started = Date.now();
    try {
        const unknown = await client.callTool(
            { name: 'no_such_tool', arguments: {} }, undefined, { timeout: REQUEST_MS });
        check('unknown tool: an error', unknown.isError === true, () => safeJson(unknown));
    } catch (error) {
        const timedOut = error?.code === sdk.ErrorCode.RequestTimeout
            || error?.code === sdk.ErrorCode.ConnectionClosed;
        check('unknown tool: an error answer', !timedOut,
            `no answer: ${error?.message} (after ${Date.now() - started}ms)`);
    }
    const after = await ok(client, 'list_sessions', {});
    check('still answers after the unknown tool', (after.sessions ?? []).length === 1, () => safeJson(after));

    check('no protocol errors on the client', protocolErrors.length === 0, () => protocolErrors.join('\n'));

    // Closing stdin must end the server on its own, before the SDK resorts to SIGTERM.
    const closing = Date.now();
    await client.close();
    const took = Date.now() - closing;
    let alive;
    try {
        process.kill(pid, 0);
        alive = true;
    } catch (error) {
        alive = error.code !== 'ESRCH';
    }
    check('server exits when the client closes', !alive && closedEvent, `pid ${pid} alive=${alive} onclose=${closedEvent}`);
    check('server exits on stdin EOF, without SIGTERM', took < SDK_KILL_AFTER_MS - 100,
        `client.close() took ${took}ms (the SDK sends SIGTERM after ${SDK_KILL_AFTER_MS}ms)`);

    sdkConsoleShown = !check('the SDK logged nothing (e.g. ajv "unknown format" schema warnings)',
        sdkConsole.length === 0, () => sdkConsole.join('\n'));
}

main()
    .then(() => {
        clearTimeout(deadline);
        finish();
    })
    .catch(error => {
        clearTimeout(deadline);
        finish(`session aborted: ${error?.stack ?? error}`);
    });
