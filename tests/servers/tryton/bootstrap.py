#!/usr/bin/env python3
"""One-time company bootstrap of a fresh Tryton database over JSON-RPC (stdlib only).

Usage: bootstrap.py BASE_URL DB LOGIN PASSWORD

Waits for the server, then creates the EUR currency, the company's party, the
company, and makes it the admin user's company (products and sales need one).
"""
import base64
import json
import sys
import time
import urllib.request

BASE, DB, LOGIN, PASSWORD = sys.argv[1:5]
_id = 0


def rpc(method, params, auth=None, url=None):
    global _id
    _id += 1
    headers = {'Content-Type': 'application/json'}
    if auth:
        headers['Authorization'] = auth
    req = urllib.request.Request(
        url or f'{BASE}/{DB}/rpc/', method='POST', headers=headers,
        data=json.dumps({'id': _id, 'method': method, 'params': params}).encode())
    with urllib.request.urlopen(req, timeout=60) as r:
        res = json.loads(r.read())
    if res.get('error'):
        raise RuntimeError(f'{method}: {res["error"]}')
    return res['result']


for _ in range(300):
    try:
        rpc('common.server.version', [], url=f'{BASE}/rpc/')
        break
    except OSError:
        time.sleep(0.1)
uid, token, _ = rpc('common.db.login', [LOGIN, {'password': PASSWORD}, 'en'])
AUTH = 'Session ' + base64.b64encode(f'{LOGIN}:{uid}:{token}'.encode()).decode()
D = lambda s: {'__class__': 'Decimal', 'decimal': s}  # noqa: E731
cur = rpc('model.currency.currency.search', [[['code', '=', 'EUR']], 0, 1, None, {}], AUTH)
if not cur:
    cur = rpc('model.currency.currency.create', [[{
        'name': 'Euro', 'code': 'EUR', 'symbol': 'EUR', 'digits': 2,
        'rounding': D('0.01')}], {}], AUTH)
comp = rpc('model.company.company.search', [[], 0, 1, None, {}], AUTH)
if not comp:
    party = rpc('model.party.party.create', [[{'name': 'Tenon Test Shop Ltd'}], {}], AUTH)
    comp = rpc('model.company.company.create', [[{'party': party[0], 'currency': cur[0]}], {}], AUTH)
    rpc('model.res.user.write', [[uid], {'companies': [['add', comp]], 'company': comp[0]}, {}], AUTH)
rpc('common.db.logout', [], AUTH)
print(f'company {comp[0]}, currency {cur[0]}')
