import { describe, expect, it } from "vitest";
import { DAY_MS, epochSeconds, HOUR_MS, MINUTE_MS, SECOND_MS, utcDay } from "../../lib/time.ts";

describe("units of time", () => {
  it("counts each unit in milliseconds", () => {
    expect([SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS]).toEqual([1_000, 60_000, 3_600_000, 86_400_000]);
  });
});

describe("epochSeconds", () => {
  it("drops the milliseconds, as JWT iat and exp count whole seconds (RFC 7519 §2 NumericDate)", () => {
    expect(epochSeconds(1_795_608_000_000)).toBe(1_795_608_000);
    expect(epochSeconds(1_795_608_000_999)).toBe(1_795_608_000);
    expect(epochSeconds(0)).toBe(0);
  });
});

describe("utcDay", () => {
  it("names the UTC calendar day of an instant as YYYY-MM-DD", () => {
    expect(utcDay(Date.UTC(2026, 10, 25, 12, 0, 0))).toBe("2026-11-25");
  });

  it("turns to the next day exactly at UTC midnight, whatever the local time zone", () => {
    const newYear = Date.UTC(2027, 0, 1);
    expect(utcDay(newYear - 1)).toBe("2026-12-31");
    expect(utcDay(newYear)).toBe("2027-01-01");
  });
});
