// Common forms, "tell us once": the forms agencies share, each filled in from the citizen's
// record where it can be (every prefilled answer says which record field it came from), shown
// and required by their conditions, and submitted for one of the services that use it. The
// service's violations are shown at the field they name.

import { useMemo, useState } from "preact/hooks";
import { clients, failure, requestId, type CallFailure, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { Failure, PageTitle, Show } from "../../components/common.js";
import {
  ClauseOperator,
  Combine,
  FieldType,
  type Answer,
  type Condition,
  type Form,
  type FormField,
} from "../../gen/singlewindow/v1/form_service_pb.js";
import { loc, useLang } from "../../i18n.js";
import { idOf } from "../../time.js";
import { CitizenNav } from "./nav.js";

type CitizenSession = Extract<Session, { kind: "citizen" }>;

export function FormList({ session }: { session: CitizenSession }) {
  const { t, lang } = useLang();
  const [loaded, reload] = useLoad(() => clients(session).forms.listForms({ pageSize: 100 }), []);
  return (
    <>
      <PageTitle>{t.formsTitle}</PageTitle>
      <CitizenNav path="/citizen/forms" />
      <p>{t.formsIntro}</p>
      <Show loaded={loaded} onRetry={reload}>
        {(page) => (
          <ul>
            {page.forms.map((f) => (
              <li key={f.form}>
                <a href={`#/citizen/forms/${idOf(f.form)}`}>{t.fillForm(loc(f.title, lang))}</a>
                {f.description && <p class="meta">{loc(f.description, lang)}</p>}
              </li>
            ))}
          </ul>
        )}
      </Show>
    </>
  );
}

/** An answer as the page holds it: text, or the parts of a composite. */
type Value = string | string[] | Record<string, string>;

function toValue(answer: Answer): Value | undefined {
  const v = answer.value;
  switch (v.case) {
    case "text":
    case "decimal":
      return v.value;
    case "integer":
      return String(v.value);
    case "boolean":
      return v.value ? "true" : "false";
    case "choices":
      return v.value.values;
    case "address":
      return { line1: v.value.line1, line2: v.value.line2, city: v.value.city, province: v.value.province, postalCode: v.value.postalCode };
    case "identifier":
      return v.value.value;
    case "bankAccount":
      return { institution: v.value.institution, transit: v.value.transit, account: v.value.account };
    default:
      return undefined;
  }
}

function answered(value: Value | undefined): boolean {
  if (value === undefined) return false;
  if (typeof value === "string") return value.trim() !== "";
  if (Array.isArray(value)) return value.length > 0;
  return Object.values(value).some((x) => x.trim() !== "");
}

function holds(condition: Condition | undefined, values: Record<string, Value>): boolean {
  if (!condition || condition.clauses.length === 0) return true;
  const results = condition.clauses.map((c) => {
    const v = values[c.field];
    const given = answered(v);
    const list = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
    switch (c.operator) {
      case ClauseOperator.EQUALS:
        return given && list.includes(c.values[0]);
      case ClauseOperator.NOT_EQUALS:
        return given && !list.includes(c.values[0]);
      case ClauseOperator.IN:
        return given && list.some((x) => c.values.includes(x));
      case ClauseOperator.GREATER_THAN:
        return given && typeof v === "string" && compare(v, c.values[0]) > 0;
      case ClauseOperator.LESS_THAN:
        return given && typeof v === "string" && compare(v, c.values[0]) < 0;
      case ClauseOperator.EXISTS:
        return given;
      case ClauseOperator.NOT_EXISTS:
        return !given;
      default:
        return false;
    }
  });
  return condition.combine === Combine.ANY ? results.some(Boolean) : results.every(Boolean);
}

function compare(a: string, b: string): number {
  const [x, y] = [Number(a), Number(b)];
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

function toAnswer(field: FormField, value: Value): Answer["value"] | null {
  switch (field.type) {
    case FieldType.INTEGER:
      return { case: "integer", value: BigInt(Math.trunc(Number(value))) };
    case FieldType.DECIMAL:
      return { case: "decimal", value: String(value) };
    case FieldType.BOOLEAN:
      return { case: "boolean", value: value === "true" };
    case FieldType.SINGLE_CHOICE:
      return { case: "choices", value: { values: [String(value)] } as never };
    case FieldType.MULTIPLE_CHOICE:
      return { case: "choices", value: { values: value as string[] } as never };
    case FieldType.ADDRESS:
      return { case: "address", value: value as never };
    case FieldType.IDENTIFIER:
      return { case: "identifier", value: { scheme: field.identifierScheme, value: String(value) } as never };
    case FieldType.BANK_ACCOUNT:
      return { case: "bankAccount", value: value as never };
    case FieldType.GROUP:
      return null;
    default:
      return { case: "text", value: String(value) };
  }
}

async function loadForm(session: CitizenSession, id: string) {
  const api = clients(session);
  const [form, prefill] = await Promise.all([
    api.forms.getForm({ name: `forms/${id}` }),
    api.forms.prefillForm({ name: `forms/${id}`, citizen: session.citizen }),
  ]);
  const services = await Promise.all(form.services.slice(0, 20).map((name) => api.catalog.getService({ name })));
  return { form, prefill: prefill.answers, services };
}

export function FormPage({ session, id }: { session: CitizenSession; id: string }) {
  const { t, lang } = useLang();
  const [loaded, reload] = useLoad(() => loadForm(session, id), [id]);
  return (
    <>
      <PageTitle>{loaded.state === "ready" ? loc(loaded.value.form.title, lang) : t.formsTitle}</PageTitle>
      <CitizenNav path="" />
      <Show loaded={loaded} onRetry={reload}>
        {({ form, prefill, services }) => (
          <>
            {form.description && <p>{loc(form.description, lang)}</p>}
            <FormFill session={session} form={form} prefill={prefill} services={services.map((s) => [s.name, loc(s.displayName, lang)])} />
          </>
        )}
      </Show>
    </>
  );
}

function FormFill({ session, form, prefill, services }: { session: CitizenSession; form: Form; prefill: Answer[]; services: [string, string][] }) {
  const { t, lang } = useLang();
  const initial = useMemo(() => {
    const values: Record<string, Value> = {};
    for (const a of prefill) {
      const v = toValue(a);
      if (v !== undefined) values[a.field] = v;
    }
    return values;
  }, [prefill]);
  const sources = useMemo(() => new Map(prefill.map((a) => [a.field, a.source?.recordField ?? ""])), [prefill]);
  const [values, setValues] = useState<Record<string, Value>>(initial);
  const [service, setService] = useState(services[0]?.[0] ?? "");
  const [error, setError] = useState<CallFailure | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [id] = useState(requestId);
  const shown = form.fields.filter((f) => f.type !== FieldType.GROUP && holds(f.showWhen, values));
  const set = (key: string, value: Value) => setValues((v) => ({ ...v, [key]: value }));
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answers = shown
        .filter((f) => answered(values[f.key]))
        .flatMap((f) => {
          const value = toAnswer(f, values[f.key]);
          return value ? [{ field: f.key, value }] : [];
        });
      await clients(session).forms.submitForm({ formVersion: form.name, citizen: session.citizen, service, answers, requestId: id });
      setDone(true);
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  if (done) return <p class="notice notice-ok" role="status">{t.submitted}</p>;
  const problem = (key: string) => error?.fields.filter((f) => f.field === key || f.field.startsWith(`${key}.`)).map((f) => f.description).join(" ");
  return (
    <form onSubmit={submit} noValidate>
      {error && <Failure failure={error} />}
      <div class="field">
        <label for="form-service">{t.service}</label>
        <select id="form-service" value={service} onChange={(e) => setService((e.target as HTMLSelectElement).value)}>
          {services.map(([name, label]) => (
            <option key={name} value={name}>{label}</option>
          ))}
        </select>
      </div>
      {shown.map((field) => (
        <FieldInput
          key={field.key}
          field={field}
          value={values[field.key]}
          required={field.required || holds(field.requireWhen, values) && field.requireWhen !== undefined}
          source={sources.get(field.key)}
          problem={problem(field.key)}
          onChange={(v) => set(field.key, v)}
          lang={lang}
        />
      ))}
      <button type="submit" disabled={busy}>{t.submitForm}</button>
    </form>
  );
}

const PARTS = {
  address: ["line1", "line2", "city", "province", "postalCode"],
  bank: ["institution", "transit", "account"],
} as const;

function FieldInput({
  field,
  value,
  required,
  source,
  problem,
  onChange,
  lang,
}: {
  field: FormField;
  value: Value | undefined;
  required: boolean;
  source?: string;
  problem?: string;
  onChange: (v: Value) => void;
  lang: "en" | "fr";
}) {
  const { t } = useLang();
  const id = `field-${field.key}`;
  const label = `${loc(field.label, lang)}${required ? ` (${t.required})` : ""}`;
  const notes = (
    <>
      {field.help && <span class="hint" id={`${id}-help`}>{loc(field.help, lang)}</span>}
      {source && <span class="hint" id={`${id}-source`}>{t.prefilledFrom(source)}</span>}
      {problem && <span class="status status-bad" id={`${id}-problem`}>{problem}</span>}
    </>
  );
  const describedBy = [field.help && `${id}-help`, source && `${id}-source`, problem && `${id}-problem`].filter(Boolean).join(" ") || undefined;
  const text = typeof value === "string" ? value : "";
  const composite = (parts: readonly string[], labels: Record<string, string>) => {
    const v = (typeof value === "object" && !Array.isArray(value) ? value : {}) as Record<string, string>;
    return (
      <fieldset aria-describedby={describedBy}>
        <legend>{label}</legend>
        {notes}
        {parts.map((p) => (
          <div class="field" key={p}>
            <label for={`${id}-${p}`}>{labels[p]}</label>
            <input id={`${id}-${p}`} value={v[p] ?? ""} onInput={(e) => onChange({ ...v, [p]: (e.target as HTMLInputElement).value })} />
          </div>
        ))}
      </fieldset>
    );
  };
  switch (field.type) {
    case FieldType.ADDRESS:
      return composite(PARTS.address, t.addressParts);
    case FieldType.BANK_ACCOUNT:
      return composite(PARTS.bank, t.bankParts);
    case FieldType.BOOLEAN:
    case FieldType.SINGLE_CHOICE:
    case FieldType.MULTIPLE_CHOICE: {
      const multiple = field.type === FieldType.MULTIPLE_CHOICE;
      const choices: [string, string][] =
        field.type === FieldType.BOOLEAN ? [["true", t.yes], ["false", t.no]] : field.choices.map((c) => [c.value, loc(c.label, lang)]);
      const picked = Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
      return (
        <fieldset aria-describedby={describedBy}>
          <legend>{label}</legend>
          {notes}
          <div class="checks">
            {choices.map(([v, l]) => (
              <label key={v}>
                <input
                  type={multiple ? "checkbox" : "radio"}
                  name={id}
                  value={v}
                  checked={picked.includes(v)}
                  onChange={(e) => {
                    const on = (e.target as HTMLInputElement).checked;
                    onChange(multiple ? (on ? [...picked, v] : picked.filter((x) => x !== v)) : v);
                  }}
                />{" "}
                {l}
              </label>
            ))}
          </div>
        </fieldset>
      );
    }
    case FieldType.LONG_TEXT:
      return (
        <div class="field">
          <label for={id}>{label}</label>
          {notes}
          <textarea id={id} aria-describedby={describedBy} aria-invalid={problem ? true : undefined} value={text} onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)} />
        </div>
      );
    default: {
      const type = { [FieldType.DATE]: "date", [FieldType.EMAIL]: "email", [FieldType.PHONE]: "tel" }[field.type as number] ?? "text";
      return (
        <div class="field">
          <label for={id}>{label}</label>
          {notes}
          <input
            id={id}
            type={type}
            inputMode={field.type === FieldType.INTEGER || field.type === FieldType.DECIMAL ? "decimal" : undefined}
            aria-describedby={describedBy}
            aria-invalid={problem ? true : undefined}
            value={text}
            onInput={(e) => onChange((e.target as HTMLInputElement).value)}
          />
        </div>
      );
    }
  }
}
