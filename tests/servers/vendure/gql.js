// One Admin GraphQL request for the test harness (node >= 18, built-in fetch).
//
// Usage: node gql.js <admin-api-url> [bearer-token] < {"query": "...", "variables": {...}}
// Prints {"token": <vendure-auth-token response header or null>, "status": <http status>,
// "body": <response JSON>} on one line.
const url = process.argv[2];
const token = process.argv[3];
let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', async () => {
  try {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
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
