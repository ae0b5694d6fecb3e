#!/usr/bin/env python3
"""One-time bootstrap of a fresh Tryton database over JSON-RPC (stdlib only).

Usage: bootstrap.py BASE_URL DB LOGIN PASSWORD

Waits for the server, then prepares what the tests need and Tryton does not
ship with. Each step looks first and creates only what is missing:

1. the EUR currency, the company's party and the company, made the admin
   user's company (products, prices, stock and sales are per company);
2. a chart of accounts from the "Universal Chart of Accounts" template (the
   `account.create_chart` wizard), with the default receivable `1.2.1` and
   payable `2.1.1` accounts, and `4.1.1 Goods` / `5.1.1 Merchandise` as the
   default revenue and expense accounts of new product categories;
3. the fiscal year of the current year (the server's date) with monthly
   periods, its strict move sequence and its customer and supplier invoice
   and credit note sequences, so that invoices can be posted;
4. the accounting product category `Goods` (revenue `4.1.1`, expense `5.1.1`)
   that the test helpers give every product they create, so that sales with
   `invoice_method: order` can be invoiced;
5. the "Lost and Found" location as the waste location of the warehouse `WH`,
   where returned goods that are disposed of go.
"""
import base64
import datetime
import json
import sys
import time
import urllib.request

BASE, DB, LOGIN, PASSWORD = sys.argv[1:5]
_id = 0
AUTH = None
CTX = {}

# Account codes of the Universal chart the set-up relies on.
RECEIVABLE, PAYABLE, REVENUE, EXPENSE = '1.2.1', '2.1.1', '4.1.1', '5.1.1'
CATEGORY = 'Goods'


def rpc(method, params, url=None):
    global _id
    _id += 1
    headers = {'Content-Type': 'application/json'}
    if AUTH:
        headers['Authorization'] = AUTH
    req = urllib.request.Request(
        url or f'{BASE}/{DB}/rpc/', method='POST', headers=headers,
        data=json.dumps({'id': _id, 'method': method, 'params': params}).encode())
    with urllib.request.urlopen(req, timeout=120) as r:
        res = json.loads(r.read())
    if res.get('error'):
        raise RuntimeError(f'{method}: {res["error"]}')
    return res['result']


def model(name, method, *args):
    """`model.<name>.<method>(*args, CTX)`."""
    return rpc(f'model.{name}.{method}', list(args) + [CTX])


def search(name, domain, limit=None):
    return model(name, 'search', domain, 0, limit, None)


def D(text):
    return {'__class__': 'Decimal', 'decimal': text}


def date(year, month, day):
    return {'__class__': 'date', 'year': year, 'month': month, 'day': day}


for _ in range(300):
    try:
        rpc('common.server.version', [], url=f'{BASE}/rpc/')
        break
    except OSError:
        time.sleep(0.1)
uid, token, _ = rpc('common.db.login', [LOGIN, {'password': PASSWORD}, 'en'])
AUTH = 'Session ' + base64.b64encode(f'{LOGIN}:{uid}:{token}'.encode()).decode()

# 1. Currency and company.
cur = search('currency.currency', [['code', '=', 'EUR']], 1)
if not cur:
    cur = model('currency.currency', 'create', [{
        'name': 'Euro', 'code': 'EUR', 'symbol': 'EUR', 'digits': 2,
        'rounding': D('0.01')}])
comp = search('company.company', [], 1)
if not comp:
    party = model('party.party', 'create', [{'name': 'Tenon Test Shop Ltd'}])
    comp = model('company.company', 'create', [{'party': party[0], 'currency': cur[0]}])
    model('res.user', 'write', [uid], {'companies': [['add', comp]], 'company': comp[0]})
company = comp[0]
CTX = rpc('model.res.user.get_preferences', [True, {}])


def account(code):
    ids = search('account.account', [['code', '=', code], ['company', '=', company]], 1)
    if not ids:
        raise RuntimeError(f'no account {code} in the chart')
    return ids[0]


# 2. Chart of accounts, through the wizard a user would run.
if not search('account.account', [['company', '=', company]], 1):
    template = search('account.account.template', [
        ['parent', '=', None], ['name', '=', 'Universal Chart of Accounts']], 1)
    session, _, _ = rpc('wizard.account.create_chart.create', [CTX])
    chart = {'company': company, 'account_template': template[0]}
    rpc('wizard.account.create_chart.execute',
        [session, {'account': chart}, 'create_account', CTX])
    rpc('wizard.account.create_chart.execute', [session, {
        'account': chart,
        'properties': {
            'company': company,
            'account_receivable': account(RECEIVABLE),
            'account_payable': account(PAYABLE)}},
        'create_properties', CTX])
    rpc('wizard.account.create_chart.delete', [session, CTX])
model('account.configuration', 'write', [1], {
    'default_account_receivable': account(RECEIVABLE),
    'default_account_payable': account(PAYABLE),
    'default_category_account_revenue': account(REVENUE),
    'default_category_account_expense': account(EXPENSE),
})

# 3. Fiscal year of the current year, with periods and sequences.
year = datetime.date.today().year
if not search('account.fiscalyear', [
        ['company', '=', company],
        ['start_date', '<=', date(year, 12, 31)],
        ['end_date', '>=', date(year, 1, 1)]], 1):
    def sequence_type(name):
        return search('ir.sequence.type', [['name', '=', name]], 1)[0]
    moves = model('ir.sequence.strict', 'create', [{
        'name': f'Account moves {year}', 'company': company,
        'sequence_type': sequence_type('Account Move')}])
    kind = sequence_type('Invoice')
    invoices = model('ir.sequence.strict', 'create', [
        {'name': f'{name} {year}', 'prefix': f'{prefix}{year}/', 'company': company,
         'sequence_type': kind}
        for name, prefix in [
            ('Customer invoices', 'INV/'), ('Customer credit notes', 'CN/'),
            ('Supplier invoices', 'SINV/'), ('Supplier credit notes', 'SCN/')]])
    fiscalyear = model('account.fiscalyear', 'create', [{
        'name': str(year), 'company': company,
        'start_date': date(year, 1, 1), 'end_date': date(year, 12, 31),
        'move_sequence': moves[0],
        'invoice_sequences': [['create', [{
            'company': company,
            'out_invoice_sequence': invoices[0],
            'out_credit_note_sequence': invoices[1],
            'in_invoice_sequence': invoices[2],
            'in_credit_note_sequence': invoices[3]}]]]}])
    model('account.fiscalyear', 'create_period', fiscalyear)

# 4. The accounting category of the test products.
if not search('product.category', [['name', '=', CATEGORY], ['accounting', '=', True]], 1):
    model('product.category', 'create', [{
        'name': CATEGORY, 'accounting': True,
        'account_revenue': account(REVENUE), 'account_expense': account(EXPENSE)}])

# 5. Waste location of the default warehouse, for disposed returns.
warehouse = search('stock.location', [['code', '=', 'WH'], ['type', '=', 'warehouse']], 1)
lost_found = search('stock.location', [['type', '=', 'lost_found']], 1)
if warehouse and lost_found:
    model('stock.location', 'write', warehouse, {'waste_locations': [['add', lost_found]]})

rpc('common.db.logout', [])
print(f'company {company}, currency {cur[0]}, fiscal year {year}')
