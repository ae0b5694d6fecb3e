// One GraphQL request (Admin or Shop API) for the test harness (node >= 18,
// built-in fetch).
//
// Usage: node gql.js <api-url> [bearer-token] [channel-token] < {"query": "...", "variables": {...}}
// An empty bearer token sends none; a channel token goes in `vendure-token`.
// Prints {"token": <vendure-auth-token response header or null>, "status": <http status>,
// "body": <response JSON>} on one line.
const url = process.argv[2];
const token = process.argv[3];
const channel = process.argv[4];
let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', async () => {
  try {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (channel) headers['vendure-token'] = channel;
    const res = await fetch(url, { method: 'POST', headers, body: input });
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    console.log(JSON.stringify({ token: res.headers.get('vendure-auth-token'), status: res.status, body }));
  } catch (err) {
    console.error(String(err));
    process.exit(1);
  }
});
