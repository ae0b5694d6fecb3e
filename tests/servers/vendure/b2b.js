// The Vendure configuration `commerce-vendure`'s B2B streams rely on, as one
// plugin: add `TenonB2bPlugin` to `plugins` (index.js does). An operator's
// server needs the same (see docs/connectors/commerce-vendure.md, "Server
// configuration"); nothing here is specific to the tests.
//
// - Custom fields (all private to the Admin API unless said otherwise):
//   Customer: accountCode (unique), accountName, accountGroup, paymentTerms,
//   creditLimit, accountCurrency, onHold (`customer-accounts`);
//   Channel: b2bAudience (`customer` or `group`), b2bCode (`price-lists`);
//   ProductVariantPrice: priceList (`price-lists`);
//   Order: erpState (public: the storefront may show it), erpNote
//   (`order-states`).
// - An order state `OnHold` (from ArrangingPayment, PaymentAuthorized,
//   PaymentSettled or PartiallyShipped, and back, or to Cancelled); a
//   fulfilment of an order on hold may be created but is not shipped or
//   delivered until the order is released.
// - A B2B channel (one whose b2bAudience is set) is private in the Shop API:
//   only a signed-in customer of its audience may use it (for `customer`, the
//   customer whose accountCode is the channel's b2bCode; for `group`, the
//   members of the customer group named b2bCode); every other request, signed
//   in or not, is refused as FORBIDDEN. Only those customers are assigned to
//   the channel when they use it.
const {
  VendurePlugin, PluginCommonModule, DefaultEntityAccessControlStrategy, CustomerService,
  TransactionalConnection, Customer, LanguageCode,
} = require('@vendure/core');

/** The states an order may be held from, and released back to. */
const HOLDABLE = ['ArrangingPayment', 'PaymentAuthorized', 'PaymentSettled', 'PartiallyShipped'];

const text = (name, label, extra = {}) => ({
  name, type: 'string', nullable: true, public: false,
  label: [{ languageCode: LanguageCode.en, value: label }], ...extra,
});

const customFields = {
  Customer: [
    text('accountCode', 'ERP account code', { unique: true }),
    text('accountName', 'ERP account name'),
    text('accountGroup', 'ERP customer group'),
    text('paymentTerms', 'Payment terms'),
    text('creditLimit', 'Credit limit (decimal, in the account currency)'),
    text('accountCurrency', 'Account currency'),
    { name: 'onHold', type: 'boolean', nullable: true, public: false,
      label: [{ languageCode: LanguageCode.en, value: 'On hold (credit block)' }] },
  ],
  Channel: [
    text('b2bAudience', 'B2B audience', { options: [{ value: 'customer' }, { value: 'group' }] }),
    text('b2bCode', 'B2B account code or customer group'),
  ],
  ProductVariantPrice: [text('priceList', 'Price list')],
  Order: [
    text('erpState', 'ERP state', { public: true }),
    text('erpNote', 'ERP note'),
  ],
};

const onHoldProcess = {
  transitions: {
    ...Object.fromEntries(HOLDABLE.map(state => [state, { to: ['OnHold'], mergeStrategy: 'merge' }])),
    OnHold: { to: [...HOLDABLE, 'Cancelled'] },
  },
};

/**
 * Refuses to ship or deliver a fulfilment of an order on hold. Creating one is
 * allowed: a refusal there would leave a fulfilment in `Created` that holds its
 * lines for good.
 */
const holdBlocksFulfilment = {
  transitions: {},
  onTransitionStart(fromState, toState, { orders }) {
    const held = (orders || []).find(o => o.state === 'OnHold');
    if (held && (toState === 'Shipped' || toState === 'Delivered')) {
      return `order ${held.code} is on hold`;
    }
  },
};

/**
 * Whether the signed-in customer of `ctx` belongs to the audience of its
 * channel. Looked up whatever the customer's channels (CustomerService's group
 * lookup only sees members of the active channel).
 */
async function admits(services, ctx) {
  const { b2bAudience: kind, b2bCode: code } = ctx.channel.customFields || {};
  if (!ctx.activeUserId || !code) return false;
  const customer = await services.customers.findOneByUserId(ctx, ctx.activeUserId, false);
  if (!customer) return false;
  if (kind === 'customer') return customer.customFields.accountCode === code;
  if (kind === 'group') {
    const withGroups = await services.connection.getRepository(ctx, Customer).findOne({
      where: { id: customer.id },
      relations: ['groups'],
    });
    return !!withGroups && withGroups.groups.some(g => g.name === code);
  }
  return false;
}

const services = injector => ({
  customers: injector.get(CustomerService),
  connection: injector.get(TransactionalConnection),
});

const isB2b = channel => !!(channel.customFields && channel.customFields.b2bAudience);

class B2bAccessControlStrategy extends DefaultEntityAccessControlStrategy {
  init(injector) {
    this.services = services(injector);
    this.verdicts = new WeakMap();
  }

  async canAccess(ctx, permissions) {
    if (ctx.apiType === 'shop' && isB2b(ctx.channel)) {
      if (!this.verdicts.has(ctx)) this.verdicts.set(ctx, await admits(this.services, ctx));
      if (!this.verdicts.get(ctx)) return false;
    }
    return super.canAccess(ctx, permissions);
  }
}

class B2bChannelAssignmentStrategy {
  init(injector) {
    this.services = services(injector);
  }

  async canAssignCustomerToChannel(ctx) {
    return !isB2b(ctx.channel) || admits(this.services, ctx);
  }
}

class TenonB2bPlugin {}
VendurePlugin({
  imports: [PluginCommonModule],
  compatibility: '^3.7.0',
  configuration: config => {
    for (const [entity, fields] of Object.entries(customFields)) {
      config.customFields[entity] = [...(config.customFields[entity] || []), ...fields];
    }
    config.orderOptions.process = [...config.orderOptions.process, onHoldProcess];
    config.shippingOptions.process = [...config.shippingOptions.process, holdBlocksFulfilment];
    config.authOptions.entityAccessControlStrategy = new B2bAccessControlStrategy();
    config.authOptions.customerChannelAssignmentStrategy = new B2bChannelAssignmentStrategy();
    return config;
  },
})(TenonB2bPlugin);

module.exports = { TenonB2bPlugin };
