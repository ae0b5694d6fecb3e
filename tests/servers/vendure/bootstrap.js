// Prepares a fresh Vendure for the tests: logs in as superadmin and creates what
// product variants need (a tax category, a country, a zone, a 0 % tax rate, the
// channel's default zones), a free shipping method (`standard`), a 4.90 one
// (`express`) and a manual payment method. The default channel offers English
// and German, USD (its default currency) and EUR, and its prices include tax
// (canonical prices do).
// Prints {"token": "<bearer token>"}.
//
// Usage: node bootstrap.js <admin-api-url> [superadmin-password]
const url = process.argv[2];
const password = process.argv[3] || 'superadmin';

async function gql(query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(body.errors)}`);
  return { data: body.data, token: res.headers.get('vendure-auth-token') };
}

(async () => {
  const login = await gql(
    'mutation($p:String!){ login(username:"superadmin", password:$p){ ... on CurrentUser { id } ... on ErrorResult { message } } }',
    { p: password });
  const token = login.token;
  if (!token) throw new Error(`login failed: ${JSON.stringify(login.data)}`);
  const q = (query, variables) => gql(query, variables, token).then(r => r.data);
  const cat = await q('mutation{ createTaxCategory(input:{name:"Standard", isDefault:true}){ id } }');
  const country = await q('mutation{ createCountry(input:{code:"DE", enabled:true, translations:[{languageCode:en, name:"Germany"}]}){ id } }');
  const zone = await q('mutation($m:[ID!]){ createZone(input:{name:"Europe", memberIds:$m}){ id } }',
    { m: [country.createCountry.id] });
  const zoneId = zone.createZone.id;
  await q('mutation($c:ID!,$z:ID!){ createTaxRate(input:{name:"Standard DE", enabled:true, value:0, categoryId:$c, zoneId:$z}){ id } }',
    { c: cat.createTaxCategory.id, z: zoneId });
  await q('mutation{ updateGlobalSettings(input:{availableLanguages:[en, de]}){ ... on GlobalSettings { id } } }');
  const channel = await q('{ activeChannel { id } }');
  const upd = await q(`mutation($id:ID!,$z:ID!){ updateChannel(input:{id:$id, defaultTaxZoneId:$z, defaultShippingZoneId:$z,
    availableLanguageCodes:[en, de], availableCurrencyCodes:[USD, EUR], pricesIncludeTax:true}){ ... on Channel { id } ... on ErrorResult { message } } }`,
    { id: channel.activeChannel.id, z: zoneId });
  if (!upd.updateChannel.id) throw new Error(`updateChannel: ${JSON.stringify(upd)}`);
  // For orders that go through payment and fulfilment: free shipping, manual payment.
  await q(`mutation{ createShippingMethod(input:{code:"standard", fulfillmentHandler:"manual-fulfillment",
    checker:{code:"default-shipping-eligibility-checker", arguments:[{name:"orderMinimum", value:"0"}]},
    calculator:{code:"default-shipping-calculator", arguments:[{name:"rate", value:"0"},
      {name:"includesTax", value:"auto"}, {name:"taxRate", value:"0"}]},
    translations:[{languageCode:en, name:"Standard"}]}){ id } }`);
  // Shipping that costs something, for refunds of shipping (tests pick it by code).
  await q(`mutation{ createShippingMethod(input:{code:"express", fulfillmentHandler:"manual-fulfillment",
    checker:{code:"default-shipping-eligibility-checker", arguments:[{name:"orderMinimum", value:"0"}]},
    calculator:{code:"default-shipping-calculator", arguments:[{name:"rate", value:"490"},
      {name:"includesTax", value:"include"}, {name:"taxRate", value:"0"}]},
    translations:[{languageCode:en, name:"Express"}]}){ id } }`);
  await q(`mutation{ createPaymentMethod(input:{code:"manual", enabled:true,
    handler:{code:"dummy-payment-handler", arguments:[{name:"automaticSettle", value:"true"}]},
    translations:[{languageCode:en, name:"Manual"}]}){ id } }`);
  console.log(JSON.stringify({ token }));
})().catch(err => { console.error(String(err)); process.exit(1); });
