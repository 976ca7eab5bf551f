// Jetton transfers made by real jetton contracts in @ton/sandbox, for the Go
// decoder tests (op "jettons" of crosscheck.js). Two families:
//
//   tep74: the TEP-74 reference minter and wallet (jetton/tep74, compiled here
//          with @ton-community/func-js);
//   usdt:  Tether's USD₮ minter and wallet (jetton/usdt), the wallet code a
//          library cell as on mainnet.
//
// For each: a minter is deployed and mints to a payer; then the scenarios run
// in order on one emulated chain and every transaction they caused is
// reported (its BOC, account and outcome). The Go side decides what pays.
// With req.sweep ({body: base64 BOC, dest: raw}) the owner finally sends
// that jetton transfer body (built by the Go sweep) to its own jetton wallet.
"use strict";

const fs = require("fs");
const path = require("path");
const { Address, Cell, Dictionary, beginCell, comment } = require("@ton/core");

const OP = {
  transfer: 0x0f8a7ea5,
  internalTransfer: 0x178d4519,
  notification: 0x7362d09c,
  tep74Mint: 21,
  usdtMint: 0x642b7d07,
  usdtCallTo: 0x235caf52,
  usdtSetStatus: 0xeed236d3,
};
const TON = 1_000_000_000n;

let tep74Codes = null;
async function tep74Code() {
  if (tep74Codes) return tep74Codes;
  const { compileFunc } = require("@ton-community/func-js");
  const dir = path.join(__dirname, "jetton", "tep74");
  const sources = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".fc"))) sources[f] = fs.readFileSync(path.join(dir, f), "utf8");
  const out = {};
  for (const [k, target] of [["wallet", "jetton-wallet.fc"], ["minter", "jetton-minter.fc"]]) {
    const r = await compileFunc({ targets: ["stdlib.fc", "compat.fc", "params.fc", "op-codes.fc", "jetton-utils.fc", target], sources });
    if (r.status !== "ok") throw new Error(`compile ${target}: ${r.message}`);
    out[k] = Cell.fromBase64(r.codeBoc);
  }
  tep74Codes = out;
  return out;
}

function usdtCode() {
  const dir = path.join(__dirname, "jetton", "usdt");
  const hex = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).hex;
  return { wallet: Cell.fromHex(hex("JettonWallet.compiled.json")), minter: Cell.fromHex(hex("JettonMinter.compiled.json")) };
}

// A made-up account that sends messages (the emulator takes internal
// messages from any address, so no wallet contract is needed for the payer).
function account(tag) {
  return new Address(0, Buffer.alloc(32, tag));
}

function forwardPayload(b, memo, inRef) {
  if (memo === null) return b.storeBit(0);
  if (inRef) return b.storeBit(1).storeRef(comment(memo));
  return b.storeBit(0).storeUint(0, 32).storeStringTail(memo);
}

function transferBody({ units, to, response, fwdNano, memo, inRef }) {
  const b = beginCell().storeUint(OP.transfer, 32).storeUint(7, 64).storeCoins(units).storeAddress(to)
    .storeAddress(response).storeBit(0).storeCoins(fwdNano);
  return forwardPayload(b, memo, inRef).endCell();
}

function internalTransferBody({ units, from, response, fwdNano, memo, inRef }) {
  const b = beginCell().storeUint(OP.internalTransfer, 32).storeUint(0, 64).storeCoins(units).storeAddress(from)
    .storeAddress(response).storeCoins(fwdNano);
  return forwardPayload(b, memo, inRef).endCell();
}

class Family {
  constructor(bc, internal, kind, codes, admin) {
    Object.assign(this, { bc, internal, kind, codes, admin });
  }

  async deploy(tag) {
    const { bc, kind, codes, admin } = this;
    let data;
    if (kind === "tep74") {
      data = beginCell().storeCoins(0).storeAddress(admin).storeRef(beginCell().storeUint(tag, 8).endCell()).storeRef(codes.walletRef).endCell();
    } else {
      data = beginCell().storeCoins(0).storeAddress(admin).storeAddress(null).storeRef(codes.walletRef)
        .storeRef(beginCell().storeStringTail(`https://example.org/${tag}.json`).endCell()).endCell();
    }
    const init = { code: codes.minter, data };
    const { contractAddress } = require("@ton/core");
    this.master = contractAddress(0, init);
    // deploy with a top-up-ish message the minter ignores or accepts
    const body = kind === "tep74" ? beginCell().endCell() : beginCell().storeUint(0xd372158c, 32).storeUint(0, 64).endCell();
    await bc.sendMessage(this.internal({ from: admin, to: this.master, value: 3n * TON, stateInit: init, body, bounce: false }));
    return this;
  }

  async walletOf(owner) {
    const r = await this.bc.runGetMethod(this.master, "get_wallet_address", [{ type: "slice", cell: beginCell().storeAddress(owner).endCell() }]);
    return r.stackReader.readAddress();
  }

  async mint(to, units) {
    const msg = internalTransferBody({ units, from: this.admin, response: this.admin, fwdNano: 0n, memo: null });
    const body = this.kind === "tep74"
      ? beginCell().storeUint(OP.tep74Mint, 32).storeUint(0, 64).storeAddress(to).storeCoins(TON / 5n).storeRef(msg).endCell()
      : beginCell().storeUint(OP.usdtMint, 32).storeUint(0, 64).storeAddress(to).storeCoins(TON / 5n).storeRef(msg).endCell();
    return this.bc.sendMessage(this.internal({ from: this.admin, to: this.master, value: TON / 2n, body }));
  }

  async balanceOf(owner) {
    const w = await this.walletOf(owner);
    const c = await this.bc.getContract(w);
    if (!c.accountState || c.accountState.type !== "active") return "0";
    const r = await this.bc.runGetMethod(w, "get_wallet_data", []);
    return r.stackReader.readBigNumber().toString();
  }

  state() {
    return this.bc.getContract(this.master).then((c) => ({
      code: c.accountState.state.code.toBoc().toString("base64"),
      data: c.accountState.state.data.toBoc().toString("base64"),
    }));
  }
}

function report(result) {
  return result.transactions.map((tx) => {
    const d = tx.description;
    const inMsg = tx.inMessage;
    let op = null;
    try {
      if (inMsg && inMsg.body) op = inMsg.body.beginParse().loadUint(32);
    } catch (_) { /* empty body */ }
    return {
      account: new Address(0, Buffer.from(tx.address.toString(16).padStart(64, "0"), "hex")).toRawString(),
      hash: tx.hash().toString("hex"),
      boc: tx.raw.toBoc().toString("base64"),
      from: inMsg && inMsg.info.src && inMsg.info.type === "internal" ? inMsg.info.src.toRawString() : null,
      op,
      bounced: inMsg && inMsg.info.type === "internal" ? inMsg.info.bounced : false,
      aborted: d.type === "generic" ? d.aborted : null,
      exitCode: d.type === "generic" && d.computePhase.type === "vm" ? d.computePhase.exitCode : null,
    };
  });
}

async function jettons(req) {
  const { Blockchain, internal } = require("@ton/sandbox");
  const owner = Address.parseRaw(req.owner);
  const memo = req.memo;
  const out = { families: [] };
  for (const kind of ["tep74", "usdt"]) {
    const bc = await Blockchain.create();
    bc.now = req.now;
    let codes;
    if (kind === "tep74") {
      const c = await tep74Code();
      codes = { minter: c.minter, wallet: c.wallet, walletRef: c.wallet };
    } else {
      const c = usdtCode();
      const libs = Dictionary.empty(Dictionary.Keys.BigUint(256), Dictionary.Values.Cell());
      libs.set(BigInt("0x" + c.wallet.hash().toString("hex")), c.wallet);
      bc.libs = beginCell().storeDictDirect(libs).endCell();
      const lib = beginCell().storeUint(2, 8).storeBuffer(c.wallet.hash()).endCell();
      codes = { minter: c.minter, wallet: c.wallet, walletRef: new Cell({ exotic: true, bits: lib.bits, refs: lib.refs }) };
    }
    const admin = account(1), payer = account(2), attacker = account(3);
    const fam = await new Family(bc, internal, kind, codes, admin).deploy(1);
    const res = { kind, master: fam.master.toRawString(), scenarios: [] };
    res.masterState = await fam.state();
    res.ownerWallet = (await fam.walletOf(owner)).toRawString();
    res.payerWallet = (await fam.walletOf(payer)).toRawString();
    // get_wallet_address for other owners too (the Go derivation is checked on each)
    res.wallets = [];
    for (const o of req.others || []) res.wallets.push({ owner: o, wallet: (await fam.walletOf(Address.parseRaw(o))).toRawString() });

    await fam.mint(payer, 100_000_000n); // 100 USDT at 6 decimals
    const payerWallet = await fam.walletOf(payer);
    const send = async (name, units, fwdNano, inRef) => {
      const before = await fam.balanceOf(payer);
      const r = await bc.sendMessage(internal({ from: payer, to: payerWallet, value: TON / 5n,
        body: transferBody({ units, to: owner, response: payer, fwdNano, memo, inRef }) }));
      res.scenarios.push({ name, units: units.toString(), fwdNano: fwdNano.toString(), payerBefore: before,
        payerAfter: await fam.balanceOf(payer), ownerAfter: await fam.balanceOf(owner), txs: report(r) });
    };
    // 1. A payment with a notification (forward_ton_amount 1 nanoton, the
    //    memo in the forward payload's ref, as wallet apps send it).
    await send("pay", 1_500_000n, 1n, true);
    // 2. The same with forward_ton_amount 0 and the memo inline: no
    //    notification reaches the owner.
    await send("pay_no_notification", 2_500_000n, 0n, false);
    // 2b. The body our checkout asks a payer's wallet to send through TON
    //     Connect (built in Go, ton.JettonTransferBOC), with the TON it
    //     attaches: it must pay our owner with the memo like a wallet app's.
    if (req.built) {
      const before = await fam.balanceOf(payer);
      const r = await bc.sendMessage(internal({ from: payer, to: payerWallet, value: BigInt(req.built.value),
        body: Cell.fromBase64(req.built.boc) }));
      res.scenarios.push({ name: "built", units: req.built.units, payerBefore: before,
        payerAfter: await fam.balanceOf(payer), ownerAfter: await fam.balanceOf(owner), txs: report(r) });
    }
    // 3a. A forged internal_transfer sent straight to our jetton wallet: the
    //     wallet refuses it (not from the master or the sender's wallet).
    {
      const before = await fam.balanceOf(owner);
      const r = await bc.sendMessage(internal({ from: attacker, to: Address.parseRaw(res.ownerWallet), value: TON / 5n, bounce: true,
        body: internalTransferBody({ units: 900_000_000n, from: attacker, response: attacker, fwdNano: 1n, memo, inRef: true }) }));
      res.scenarios.push({ name: "forged", units: "900000000", ownerBefore: before, ownerAfter: await fam.balanceOf(owner), txs: report(r) });
    }
    // 3b. USD₮ only: the master's admin locks our wallet's incoming
    //     transfers (status 2), as Tether does to a blacklisted wallet; a
    //     payer's transfer then fails in our wallet and bounces back.
    if (kind === "usdt") {
      const lockBody = beginCell().storeUint(OP.usdtCallTo, 32).storeUint(0, 64).storeAddress(owner).storeCoins(TON / 10n)
        .storeRef(beginCell().storeUint(OP.usdtSetStatus, 32).storeUint(0, 64).storeUint(2, 4).endCell()).endCell();
      await bc.sendMessage(internal({ from: admin, to: fam.master, value: TON / 5n, body: lockBody }));
      await send("locked_bounces", 3_000_000n, 1n, true);
    }
    // 4. A fake jetton (same code, another master the attacker controls)
    //    whose wallet sends our owner a transfer_notification with our memo.
    {
      const fake = await new Family(bc, internal, "tep74", await tep74Code().then((c) => ({ minter: c.minter, wallet: c.wallet, walletRef: c.wallet })), attacker).deploy(9);
      await fake.mint(attacker, 1_000_000_000n);
      const r = await bc.sendMessage(internal({ from: attacker, to: await fake.walletOf(attacker), value: TON / 5n,
        body: transferBody({ units: 500_000_000n, to: owner, response: attacker, fwdNano: TON / 20n, memo, inRef: true }) }));
      res.fakeMaster = fake.master.toRawString();
      res.fakeOwnerWallet = (await fake.walletOf(owner)).toRawString();
      res.scenarios.push({ name: "fake", units: "500000000", txs: report(r) });
    }
    // 5. A sweep: our owner sends its own jetton wallet the transfer body the
    //    Go side built (openmoney sweep), moving its jettons to req.sweep.dest.
    if (req.sweep) {
      const dest = Address.parseRaw(req.sweep.dest);
      const before = await fam.balanceOf(owner);
      const r = await bc.sendMessage(internal({ from: owner, to: Address.parseRaw(res.ownerWallet), value: TON / 20n, bounce: true,
        body: Cell.fromBase64(req.sweep.body) }));
      res.scenarios.push({ name: "sweep", ownerBefore: before, ownerAfter: await fam.balanceOf(owner), destAfter: await fam.balanceOf(dest), txs: report(r) });
    }
    out.families.push(res);
  }
  return out;
}

module.exports = { jettons };
