// The schedule's form: time zone, weekly hours, holidays and the profiles they switch to.
// `read()` returns a ScheduleSpec; data-field names follow the scheduler's field paths
// without "schedule." (e.g. "rules.0.end"), so its errors land next to their control.
import { button, field, h, replace } from "../dom.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

export function scheduleForm(spec, profiles) {
  const profileSelect = (value, attrs = {}, blank = "—") =>
    h("select", attrs, h("option", { value: "" }, blank),
      profiles.map((p) => h("option", { value: p.id, selected: p.id === value }, p.name)));
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zone = h("input", {
    value: spec?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone, list: "time-zones", autocomplete: "off",
  });
  const zoneList = h("datalist", { id: "time-zones" }, zones.map((z) => h("option", { value: z })));
  const defaultProfile = profileSelect(spec?.default_profile, {}, "none (keep what holds)");
  const holidayProfile = profileSelect(spec?.holiday_profile, {}, "none");
  const country = h("input", { value: spec?.calendar?.country || "", maxlength: 3, autocomplete: "off" });
  const subdivision = h("input", { value: spec?.calendar?.subdivision || "", maxlength: 10, autocomplete: "off" });
  const inherit = h("input", { type: "checkbox", id: "inherit-company", checked: spec?.inherit_company, "data-field": "inherit_company" });

  const rules = h("ol", { class: "list", id: "weekly-rules", "data-field": "rules", tabindex: "-1" });
  const ruleRow = (rule) => {
    const li = h("li", { "data-rule-row": "" });
    const n = () => [...rules.children].indexOf(li);
    const days = h("fieldset", { class: "days" }, h("legend", {}, "Days"),
      DAYS.map((d) => h("label", { class: "check" },
        h("input", { type: "checkbox", value: d, checked: rule.days?.includes(d) }), DAY_NAMES[d])));
    const start = h("input", { type: "time", value: rule.start || "09:00", "data-rule-start": "" });
    const end = h("input", { type: "time", value: rule.end === "24:00" ? "23:59" : rule.end || "17:00", "data-rule-end": "" });
    const profile = profileSelect(rule.profile_id, { "data-rule-profile": "" });
    replace(li, days,
      h("div", { class: "row" },
        field("From", start), field("To", end), field("Profile", profile)),
      button("Remove these hours", () => li.remove(), { class: "danger" }));
    li.renumber = () => {
      start.dataset.field = `rules.${n()}.start`;
      end.dataset.field = `rules.${n()}.end`;
      profile.dataset.field = `rules.${n()}.profile_id`;
    };
    return li;
  };
  for (const rule of spec?.rules || []) rules.append(ruleRow(rule));

  const holidays = h("ol", { class: "list", id: "holidays", "data-field": "holidays", tabindex: "-1" });
  const holidayRow = (day) => {
    const date = h("input", { type: "date", value: day.date || "", "data-holiday-date": "" });
    const name = h("input", { value: day.name || "holiday", "data-holiday-name": "" });
    const profile = profileSelect(day.profile_id, { "data-holiday-profile": "" }, "the holiday profile");
    const li = h("li", {}, h("div", { class: "row" }, field("Date", date), field("Name", name), field("Profile", profile)),
      button("Remove holiday", () => li.remove(), { class: "danger" }));
    return li;
  };
  for (const day of spec?.holidays || []) holidays.append(holidayRow(day));

  const form = h("form", { novalidate: true, id: "schedule-form" },
    h("fieldset", {}, h("legend", {}, "Time zone and defaults"),
      field("Time zone", zone, { field: "time_zone", hint: "IANA name, e.g. Europe/Berlin; hours below are in this zone." }), zoneList,
      field("Outside these hours", defaultProfile, { field: "default_profile" }),
      h("div", { class: "check" }, inherit, h("label", { for: "inherit-company" }, "Use the company's hours and holidays"),
        h("p", { class: "error", id: "inherit-company-error", role: "alert" }))),
    h("fieldset", {}, h("legend", {}, "Weekly hours"), rules, h("p", { class: "error", id: "weekly-rules-error", role: "alert" }),
      button("Add hours", () => { rules.append(ruleRow({ days: ["mon", "tue", "wed", "thu", "fri"] })); })),
    h("fieldset", {}, h("legend", {}, "Holidays"),
      h("div", { class: "row" },
        field("Public holidays of (country code)", country, { field: "calendar", hint: "e.g. DE; empty: none" }),
        field("Region (optional)", subdivision, { field: "calendar.subdivision" }),
        field("Profile on holidays", holidayProfile, { field: "holiday_profile" })),
      holidays, h("p", { class: "error", id: "holidays-error", role: "alert" }),
      button("Add a holiday", () => holidays.append(holidayRow({})))),
  );

  const read = () => {
    [...rules.children].forEach((li) => li.renumber());
    const value = (root, sel) => root.querySelector(sel).value;
    return {
      time_zone: zone.value.trim(),
      rules: [...rules.children].map((li) => ({
        days: [...li.querySelectorAll(".days input:checked")].map((i) => i.value),
        start: value(li, "[data-rule-start]"),
        end: value(li, "[data-rule-end]") === "23:59" ? "24:00" : value(li, "[data-rule-end]"),
        profile_id: value(li, "[data-rule-profile]"),
      })),
      holidays: [...holidays.children].map((li) => {
        const day = { date: value(li, "[data-holiday-date]"), name: value(li, "[data-holiday-name]") || "holiday" };
        const profile = value(li, "[data-holiday-profile]");
        if (profile) day.profile_id = profile;
        return day;
      }),
      calendar: country.value.trim() ? { country: country.value.trim().toUpperCase(), subdivision: subdivision.value.trim() || null } : null,
      holiday_profile: holidayProfile.value || null,
      default_profile: defaultProfile.value || null,
      inherit_company: inherit.checked,
      manual_switch: spec?.manual_switch || "hold_until_next_boundary",
      reapply_after_minutes: spec?.reapply_after_minutes || 0,
    };
  };
  [...rules.children].forEach((li) => li.renumber());
  return { form, read };
}
