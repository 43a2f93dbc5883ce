#!/usr/bin/env python3
"""Builds realistic_api.jsonl: benign API traffic for the injection detector's false-positive
measurement (crates/threat/tests/injection_corpus.rs, crates/test-support/tests/threat_crs.rs).

Every value below was written by hand to look like what real clients send to real APIs, and
was written *before* the detection rules it is measured against were changed (it must not be
shaped by them). Each value appears once, in the place such a value travels in real traffic
(query parameter, form field, JSON or XML body, header, cookie, path segment).

Run: python3 gen_realistic.py > realistic_api.jsonl  (deterministic: fixed seed)
"""

import json
import random
import sys
import urllib.parse

rng = random.Random(20240605)

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.179 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
    "okhttp/4.12.0",
    "Dart/3.3 (dart:io)",
    "Go-http-client/2.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "python-httpx/0.27.0",
    "Java-http-client/21.0.3",
    "Ruby",
    "insomnia/9.2.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "WhatsApp/2.24.10.79 A",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "MyBankApp/5.12.0 (iPhone; iOS 17.5; Scale/3.00)",
    "Grafana/10.4.2",
    "Prometheus/2.52.0",
    "kube-probe/1.29",
    "ELB-HealthChecker/2.0",
    "Amazon CloudFront",
    "aws-sdk-js/3.583.0 ua/2.0 os/linux#5.15 lang/js md/nodejs#20.13.1 api/s3#3.583.0",
    "Terraform/1.8.4 (+https://www.terraform.io) terraform-provider-aws/5.51.1",
    "GitHub-Hookshot/8e03811",
    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
]

NAMES = [
    "O'Brien", "Conan O'Brien", "D'Angelo Russell", "Dolores O'Riordan", "Shaquille O'Neal",
    "Miles O'Keeffe", "N'Golo Kanté", "Ta'Nehisi Coates", "Jean-Baptiste d'Alembert",
    "Antoine de Saint-Exupéry", "Ngũgĩ wa Thiong'o", "Mary O'Hara-Smith", "Patrick O'Sullivan",
    "Leonardo D'Amico", "Gabriel García Márquez", "Zoë Kravitz", "Chloë Grace Moretz",
    "Søren Kierkegaard", "Łukasz Żółkiewski", "Dvořák Antonín", "Nguyễn Thị Minh Khai",
    "Đặng Thái Sơn", "王小明", "山田太郎", "김민준", "Мария Иванова", "Αλέξανδρος Παπαδόπουλος",
    "محمد بن سلمان", "יוסף כהן", "Björn Ulvaeus", "Ólafur Arnalds", "François Hollande",
    "José María Aznar", "Renée Fleming", "Dr. Jane Smith, PhD", "Sir Elton John", "Prince",
    "Jennifer Null", "Christopher Null", "Rob Select", "Amy Union", "Peter Drop", "Sam Table",
    "Lisa Order", "Jo Case", "Kim Update", "Ann Delete", "Tom Sleep", "Max Power",
    "Mr. & Mrs. Johnson", "Smith-Jones, Anna", "van der Berg, Pieter", "MacDonald, Ian",
    "Al-Rashid, Omar", "de la Cruz, María", "Li Na", "X Æ A-12", "Will.i.am", "Ke$ha",
    "P!nk", "the-dude_42", "user_name.with.dots", "admin-team", "root beer lover",
]

PROSE = [
    "Please select the size you want and drop it in the basket.",
    "I'll drop by the office around 3pm; let me know if that works.",
    "We need to update the union contract before the end of the month.",
    "Can you select all the rows where the status is open and export them?",
    "Order by Friday to get free delivery (UK mainland only).",
    "Sort order: by date, then by name.",
    "Insert the SIM card, then restart the phone.",
    "Delete the old backups; keep the last three.",
    "The table in the kitchen is 120 x 80 cm.",
    "Time (UTC) is shown in the top-right corner.",
    "Sleep mode kicks in after 10 minutes of inactivity.",
    "This benchmark shows a 20% improvement over last year.",
    "Execute the plan as discussed; we'll review on Monday.",
    "Union Station is a 5 minute walk from the hotel.",
    "Select Comfort mattress, queen size, barely used.",
    "Is it 1 or 2 tablets per day? The label is unclear.",
    "Either you or I will have to call them back.",
    "Black or white? Or maybe grey.",
    "If the price drops below $50, notify me.",
    "In (almost) every case the refund is processed within 5 days.",
    "Rated 4.5/5 by 1,234 customers (and counting).",
    "Meeting moved from 10:00 to 11:30 -- sorry for the short notice.",
    "Hi team -- quick update: the release is delayed until Thursday.",
    "Great value for money!!! 10/10 would recommend ;-)",
    "Can't wait!!! :D",
    "Why doesn't the app remember my login? It's really annoying...",
    "My order #A-1029 was marked delivered but never arrived.",
    "Where's my refund?? It's been 3 weeks.",
    "Our address changed to 5 Rue de l'Université, 75007 Paris.",
    "Nice work -- but the 'Save' button doesn't do anything on Safari.",
    "He said \"don't worry\" and then nothing happened.",
    "It's 50/50 whether we'll make the deadline.",
    "Between 9am and 5pm, Monday to Friday (except bank holidays).",
    "Prices include VAT @ 20%.",
    "Buy 2, get 1 free -- while stocks last.",
    "A < B and C > D, therefore the order is A, C.",
    "Temperature range: -20 °C to +45 °C.",
    "The new model is 2x faster & 30% lighter.",
    "I'm not sure whether to choose the 64GB or the 128GB version.",
    "We tried everything: restart, reinstall, reset; nothing helped.",
    "The 'from' and 'to' fields are swapped in the export.",
    "Where are the drop-down menus on the new dashboard?",
    "Who is the point of contact for the union negotiations?",
    "Could you update my shipping address and delete the old one?",
    "Please don't sleep on this offer -- it ends at midnight!",
    "I'd like to exchange the shoes for a bigger size, if possible.",
    "The chart shows sales by region, grouped by quarter.",
    "Having trouble logging in? Reset your password here.",
    "Where is the 'Select all' checkbox? I can't find it.",
    "Thanks for the quick reply; all sorted now.",
    "See you at 7; table's booked under 'Garcia'.",
    "Love it <3",
    "5 stars -- excellent customer service; arrived in 2 days.",
    "That's a 'no' from me, I'm afraid.",
    "Drop table tennis practice on Thursdays, please; the hall is booked.",
    "Union of Concerned Scientists -- annual report 2023",
    "What's the difference between 'affect' and 'effect'?",
    "Can I pay by card or cash on delivery?",
    "Note: prices are subject to change (see T&Cs).",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.",
    "Der Kunde hat die Bestellung storniert; bitte Rückerstattung veranlassen.",
    "La commande n'est pas arrivée ; pouvez-vous vérifier ?",
    "El pedido llegó roto, ¿podrían enviarme otro?",
    "Il prodotto è arrivato in ritardo ma funziona bene.",
    "Bestelling is niet compleet: de kabel ontbreekt.",
    "注文した商品がまだ届いていません。確認をお願いします。",
    "订单已发货，请注意查收。",
    "Заказ пришёл без инструкции; где её можно скачать?",
    "Thank you! / Merci ! / ¡Gracias! / Danke!",
    "First line\nSecond line\nThird line",
    "Dear support,\n\nmy invoice (INV-2024-0042) lists the wrong VAT number.\n\nKind regards,\nAnna",
    "Steps to reproduce:\n1. Open the app\n2. Tap 'Profile'\n3. The app crashes",
    "Is there any way to get the data as CSV or Excel, or only as PDF?",
    "Who's on call this weekend -- you or Sam?",
    "Going from 1.2 to 1.3 broke the import; rolling back for now.",
    "Q: Does it fit a 15\" laptop? A: Yes, up to 15.6\".",
    "Size: 10 (US) / 43 (EU) / 9 (UK)",
    "I was charged twice (2 x $19.99) for the same order.",
    "Copy & paste doesn't work in the notes field.",
    "The union of two sets A and B contains every element of A or B.",
    "To select a range, hold Shift and click the last cell.",
    "Null and void -- the contract was never signed.",
    "Kids under 12 eat free; adults $15.",
    "Dinner for 2 @ 8pm, window seat if possible",
    "Re: your ticket #5512 -- we've escalated it to the billing team.",
    "Hey! Is the 'where' clause in the docs a typo? Should it say 'when'?",
    "What happens if I cancel and then resubscribe within 30 days?",
    "It says 'Error 502 -- Bad Gateway' every time I try to pay.",
    "Exec summary attached; full report to follow.",
    "Update: the issue is fixed in version 2.4.1.",
    "Looking for a 2-bed flat near Union Square, budget 2,500/month.",
    "I think the answer is (b), not (c).",
    "The script for the school play needs 12 actors and 3 stagehands.",
    "Had to sleep on it, but yes, we'll take the offer.",
    "A hash (#) or pound sign is used for comments in many languages.",
    "My password has a % and a & in it -- is that a problem?",
    "Use the promo code WELCOME10 at checkout.",
]

MARKDOWN = [
    "## Changelog\n\n- **Added**: dark mode\n- **Fixed**: crash on login (<kbd>Cmd</kbd>+<kbd>Q</kbd>)\n- Removed legacy `v1` endpoints",
    "<details><summary>Click to expand</summary>\n\nHidden content with a [link](https://example.com/docs).\n</details>",
    "H<sub>2</sub>O and E = mc<sup>2</sup>",
    "<p align=\"center\"><img src=\"https://raw.githubusercontent.com/example/repo/main/logo.png\" alt=\"Logo\" width=\"200\"></p>",
    "See the <a href=\"https://example.com/pricing\" target=\"_blank\" rel=\"noopener\">pricing page</a> for details.",
    "<table>\n<tr><th>Plan</th><th>Price</th></tr>\n<tr><td>Free</td><td>$0</td></tr>\n<tr><td>Pro</td><td>$12</td></tr>\n</table>",
    "> **Warning**\n> This will delete all your data. Make a backup first!",
    "Press <kbd>Ctrl</kbd> + <kbd>Shift</kbd> + <kbd>P</kbd> and type `Reload Window`.",
    "<!-- TODO: update screenshots -->\n# Getting started\n\nInstall with `pip install example`.",
    "Line 1<br/>Line 2<br />Line 3",
    "<mark>Highlighted</mark> text and <del>removed</del> <ins>added</ins> text.",
    "* [ ] Write tests\n* [x] Update docs\n* [ ] Release 1.0",
    "![screenshot](https://user-images.githubusercontent.com/12345/67890-abc.png)",
    "Footnote reference[^note].\n\n[^note]: Source: *Annual Report 2023*, p. 12.",
    "```json\n{\"name\": \"example\", \"version\": \"1.0.0\"}\n```",
    "<div class=\"alert alert-info\" role=\"alert\">Maintenance on Sunday 02:00-04:00 UTC.</div>",
    "Use `SELECT` in the dropdown, then click **Apply**.",
    "<span style=\"color: #d73a49\">red text</span> and <span style=\"font-weight: bold\">bold</span>",
    "1. First\n2. Second\n   - nested *item*\n3. Third",
    "| Key | Value |\n|-----|-------|\n| `timeout` | 30s |\n| `retries` | 3 |",
    "<h2 id=\"faq\">FAQ</h2>\n<p>Questions? Email <a href=\"mailto:help@example.com\">help@example.com</a>.</p>",
    "<blockquote>Simplicity is prerequisite for reliability.</blockquote> -- Edsger W. Dijkstra",
    "Math: $a^2 + b^2 = c^2$ and $$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$",
    "<ul><li>Apples</li><li>Oranges &amp; lemons</li></ul>",
    "Text with an emoji :tada: and a mention @octocat, issue #42.",
    "<img src=\"/static/img/chart-q1.png\" alt=\"Q1 sales chart\" loading=\"lazy\">",
    "<video controls width=\"640\"><source src=\"/media/intro.mp4\" type=\"video/mp4\"></video>",
    "Embedding with `<iframe>` is not supported here; use the share link instead.",
    "Escaped HTML: &lt;b&gt;not bold&lt;/b&gt; and &amp;copy; 2024",
    "<abbr title=\"HyperText Markup Language\">HTML</abbr> is fun.",
]

CODE = [
    "def greet(name):\n    return f\"Hello, {name}!\"",
    "const user = await fetch(`/api/users/${id}`).then(r => r.json());",
    "for (const [key, value] of Object.entries(obj)) {\n  console.log(`${key}: ${value}`);\n}",
    "SELECT_MODE = 'multi'  # or 'single'",
    "if err != nil {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}",
    "let v: Vec<u32> = (0..10).filter(|x| x % 2 == 0).collect();",
    "public record Point(int x, int y) {}",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "items.sort((a, b) => a.price - b.price);",
    "x = max(a, b) if a is not None else b",
    "df.groupby('region')['sales'].sum().sort_values(ascending=False)",
    "export default function App() { return <div className=\"app\">Hi</div>; }",
    ".btn:hover { background: linear-gradient(90deg, #fff 0%, #eee 100%); }",
    "@media (max-width: 600px) { .sidebar { display: none; } }",
    "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest",
    "version: '3.8'\nservices:\n  web:\n    image: nginx:1.25\n    ports:\n      - \"8080:80\"",
    "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "(\\d{3})-(\\d{3})-(\\d{4})",
    "=SUM(A1:A10)",
    "=IF(B2>100,\"High\",\"Low\")",
    "=VLOOKUP(A2,Sheet2!A:B,2,FALSE)",
    "=ROUND(C3*1.2, 2)",
    "=LEFT(A1, 3) & \"-\" & RIGHT(A1, 4)",
    "println!(\"{:?}\", map.get(\"key\").unwrap_or(&0));",
    "try { JSON.parse(text) } catch (e) { console.error(e.message) }",
    "while (i < n && arr[i] != target) i++;",
    "assert_eq!(parse(\"1+2\"), Ok(3));",
    "<template>\n  <button @click=\"count++\">{{ count }}</button>\n</template>",
    "{% for item in items %}<li>{{ item.name }}</li>{% endfor %}",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "lambda x: x ** 2",
    "array.map(x => x * 2).filter(Boolean)",
    "SELECT_ALL_LABEL",
    "user?.profile?.email ?? 'n/a'",
    "a || b",
    "(a + b) * (c - d) / 2",
    "x >= 0 && x <= 100",
    "i++; j--;",
    "color: rgba(0, 0, 0, 0.5);",
    "kotlin: val list = listOf(1, 2, 3).map { it * 2 }",
]

PATHS = [
    "C:\\Users\\alice\\Documents\\Budget 2024.xlsx",
    "D:\\Photos\\2023\\Holiday\\IMG_0042.JPG",
    "\\\\fileserver\\shared\\Finance\\Q2\\report.docx",
    "/Users/bob/Desktop/screenshot 2024-05-01 at 10.22.31.png",
    "/home/carol/projects/thesis/chapter-3.tex",
    "~/Downloads/invoice.pdf",
    "./build/output/app.js",
    "../assets/images/logo.svg",
    "src/components/Button/Button.test.tsx",
    "docs/api/v2/openapi.yaml",
    "Projects/2024/Client X/brief (final) v3.docx",
    "music/AC_DC - Back In Black.flac",
    "videos/Family/2019-12-25 Christmas.mp4",
    "s3://my-bucket/exports/2024/05/data.csv.gz",
    "gs://analytics-prod/tables/events/dt=2024-05-01/part-0000.parquet",
    "file.name.with.many.dots.txt",
    "reports/Q3 (draft).pdf",
    "backup-2024-05-01.tar.gz",
    "node_modules/.bin/eslint",
    "app/config/locales/en.yml",
]

URLS = [
    "https://www.example.com/search?q=select+all&lang=en",
    "https://shop.example.com/p/union-jack-mug?variant=2&utm_source=google&utm_medium=cpc",
    "https://example.com/callback?code=4/0AY0e-g7xyz&state=af0ifjsldkj",
    "https://login.example.com/oauth2/authorize?response_type=code&client_id=abc123&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid%20profile",
    "https://maps.google.com/?q=51.5074,-0.1278",
    "https://en.wikipedia.org/wiki/Union_(set_theory)",
    "https://en.wikipedia.org/wiki/Drop_table_(disambiguation)",
    "https://docs.example.com/guide/#section-2.3",
    "http://localhost:3000/api/v1/items?sort=-created_at&page[size]=20",
    "https://cdn.example.net/fonts/inter.woff2?v=3.19",
    "https://github.com/rust-lang/rust/issues?q=is%3Aissue+is%3Aopen+label%3AC-bug",
    "https://calendar.example.com/event?title=Team%20sync&start=2024-06-01T10:00:00Z",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
    "https://example.org/files/report%20(1).pdf",
    "ftp://ftp.example.org/pub/linux/kernel/v6.x/",
    "mailto:sales@example.com?subject=Quote%20request&body=Hi%20there",
    "tel:+44-20-7946-0958",
    "https://api.example.com/v2/users/42/orders?filter=status eq 'open'",
    "https://example.com/a/b/../c/./d.html",
    "https://user:pass@legacy.example.com/login",
]

BLOBS = [
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAIAQMAAAD+wSzIAAAABlBMVEX///+/v7+jQ3Y5AAAADklEQVQI12P4AIX8EAgALgAD/aNpbtEAAAAASUVORK5CYII",
    "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIiwiaWF0IjoxNzE2MjM5MDIyfQ.4pcPyMD09olPSyXnrXCjTwXyr4BsezdI1AVTmud2fU4",
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----",
    "U2FsdGVkX1+vupppZksvRf5pq5g5XjFRIipRkwB0K1Y96Qsv2Lm+31cmzaAILwyt",
    "dGhpcyBpcyBub3QgYSBzZWNyZXQsIGp1c3QgYSB0ZXN0IHN0cmluZyBvciBpcyBpdD8=",
    "c2VsZWN0ICogZnJvbSB1c2Vycw==",
    "Zm9yIGkgaW4gMS4uMTA7IGRvIGVjaG8gJGk7IGRvbmU=",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
    "5f4dcc3b5aa765d61d8327deb882cf99",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "pk_test_TYooMQauvdEDq54NiTphI7jx",
    "whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH",
    "v=spf1 include:_spf.google.com ~all",
    "$2b$12$KIXQJrZt5k5F5JEqKXmZ1uK6qvY0b1w5OQ9rNwZ0Gk0Tq5vL5zF6e",
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
]

JSON_QUOTES = [
    "{\"note\": \"He said \\\"use the 'select' tool\\\"\"}",
    "[\"a\", \"b\", \"c\"]",
    "{\"query\": \"name:\\\"O'Brien\\\" AND city:Dublin\"}",
    "She replied: \"Sure -- I'll 'drop' it off tomorrow.\"",
    "\"Quoted\" at the start and 'single' at the end'",
    "It's the \"best\" product we've 'ever' made.",
    "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"e\"}]}}}",
    "The key is \"x-api-version\" and the value is \"2024-05-01\".",
    "'Single-quoted' title",
    "\"Double-quoted\" title",
    "Rock 'n' roll",
    "Guns N' Roses",
    "'90s music",
    "The \"or\" operator returns true if either side is true.",
    "Set \"and\" to 1 and \"or\" to 0 in the settings file.",
]

MISC = [
    "2024-05-01T10:15:30.123Z", "2024-05-01 10:15:30+02:00", "Mon, 01 May 2024 10:15:30 GMT",
    "1714558530", "P3Y6M4DT12H30M5S", "*/15 * * * *", "0 3 * * 1-5", "@daily",
    ">=1.2.0 <2.0.0", "^1.2.3 || ^2.0.0", "~1.4", "1.2.3-beta.1+build.42", "v2.0.0-rc.1",
    "en-US,en;q=0.9", "text/html; charset=utf-8", "USD 1,234.56", "€ 99,90", "£5 off",
    "-12.5", "3.14159", "1e-9", "0.000001", "100%", "50% - 75%", "+44 (0)20 7946 0958",
    "(555) 010-9999 ext. 12", "SW1A 2AA", "10115 Berlin", "75007", "NY 10118",
    "52.5200° N, 13.4050° E", "51.5074,-0.1278", "#ff6600", "rgb(255, 102, 0)",
    "1920x1080", "A4 (210 × 297 mm)", "3/4 cup sugar", "1/2\" bolt", "6' 2\"", "5'11\"",
    "key=value; other=thing", "a=1&b=2", "foo[bar]=baz", "user.name@example.com",
    "first.last+filter@sub.example.co.uk", "\"Alice\" <alice@example.com>",
    "192.168.1.10", "2001:db8::1", "10.0.0.0/8", "example.com:8443", "_ga=GA1.2.3.4",
    "urn:isbn:0451450523", "ISBN 978-3-16-148410-0", "doi:10.1000/182",
    "550e8400-e29b-41d4-a716-446655440000", "01HX2Z8Q9Y8ZK7V3N4B5C6D7E8",
    "order_id desc", "created_at:desc,name:asc", "-updated_at", "price asc",
    "status eq 'active' and age gt 30", "name ne null", "startswith(name, 'A')",
    "in:inbox is:unread from:boss", "label:bug -label:wontfix", "title:\"release notes\"",
    "size>10mb", "stars:>100 language:rust", "price:[10 TO 100]", "NOT deprecated",
    "foo AND (bar OR baz)", "cats | dogs", "c# & f#", "node.js & express",
    "semi;colon;separated;list", "pipe|separated|values", "tab\tseparated\tvalues",
    "100 > 99", "x < y", "a <= b", "1 != 2", "2+2=4", "n = n + 1", "a == b",
    "if-match", "select", "update", "delete", "insert", "drop", "union", "order", "group",
    "table", "exec", "sleep", "time", "date", "user", "version", "schema", "database",
    "cat", "ls", "id", "ping", "echo", "print", "kill", "make", "find", "sort", "top",
    "script", "alert", "prompt", "confirm", "javascript", "document", "window", "onload",
    "etc", "passwd", "root", "admin", "bin", "tmp", "var", "home", "usr", "system32",
]

HEADERS_EXTRA = [
    ("X-Request-ID", "req_8f14e45fceea167a5a36dedd4bea2543"),
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ("baggage", "userId=alice,serverNode=DF%2028,isProduction=false"),
    ("X-Amz-Date", "20240501T101530Z"),
    ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
    ("X-GitHub-Event", "pull_request"),
    ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
    ("Stripe-Signature", "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"),
    ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
    ("X-Shopify-Hmac-Sha256", "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM="),
    ("X-Client-Name", "Acme Mobile (iOS)"),
    ("X-App-Version", "5.12.0 (build 2041)"),
    ("X-Device-Model", "iPhone15,3"),
    ("X-Timezone", "Europe/London"),
    ("X-Locale", "pt-BR"),
    ("X-Api-Version", "2024-05-01"),
    ("X-Idempotency-Key", "a3f1c2e4-5b6d-4e7f-8a9b-0c1d2e3f4a5b"),
    ("X-Debug", "false"),
    ("X-Feature-Flags", "checkout_v2=on; search_beta=off"),
    ("X-Forwarded-Prefix", "/api"),
    ("X-Original-URL", "/v1/orders?status=open"),
    ("X-Real-IP", "198.51.100.23"),
    ("X-Client-Data", "CIe2yQEIpLbJAQipncoBCKijygE="),
    ("X-Search-Query", "how to select multiple files on mac"),
    ("X-User-Note", "Please call before delivery; the bell doesn't work."),
    ("X-Filename", "Quarterly Report (Q1 2024).pdf"),
    ("X-Filename", "photo_2024-05-01_10-15-30.jpg"),
    ("X-Filename", "config-backup-notes.txt"),
    ("X-Upload-Content-Type", "image/heic"),
    ("Prefer", "return=representation"),
    ("X-HTTP-Method-Override", "PATCH"),
    ("X-Csrf-Token", "Fq8e5k1J2lP0y8x3Qw9Z7v6T5r4E3w2Q1"),
    ("X-Requested-With", "XMLHttpRequest"),
    ("Sec-GPC", "1"),
]

COOKIES = [
    "_ga=GA1.1.1234567890.1714558530; _ga_ABC123=GS1.1.1714558530.1.1.1714558600.0.0.0",
    "OptanonConsent=isGpcEnabled=0&datestamp=Wed+May+01+2024+10%3A15%3A30+GMT%2B0100&version=202401.1.0&groups=C0001%3A1%2CC0002%3A0",
    "cookieconsent_status=dismiss; theme=light",
    "prefs=%7B%22theme%22%3A%22dark%22%2C%22lang%22%3A%22en%22%7D",
    "cart=%5B%7B%22sku%22%3A%22A-1%22%2C%22qty%22%3A2%7D%5D",
    "session_id=s%3A8f2b0c.1a2b3c4d5e6f; Path=/",
    "JSESSIONID=1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D.node1",
    "PHPSESSID=9r4c0b7k1m2n3p4q5s6t7u8v9w",
    "AWSALB=Xk3tB+8fJ2cHw9K4sQ1eQ7vY5mZ0pL6rD2aN8uT3gH1jC5xV9bW4yE7iO0kF6lM; AWSALBCORS=Xk3tB+8fJ2cHw9K4sQ1eQ7vY5mZ0pL6rD2aN8uT3gH1jC5xV9bW4yE7iO0kF6lM",
    "__cf_bm=abc.defGHI-1714558530-1.0.1.1-XyZ_12345; cf_clearance=qwerty-1714558530-0-1-abc.def.ghi-250.0.0",
    "lang=fr-CA; currency=CAD; region=QC",
    "last_search=select%20all%20in%20excel; recent=union%20square",
    "tz=America%2FNew_York; dst=1",
    "remember_me=true; user=O%27Brien",
    "ab_test=variant-b; exp_id=2024-05-checkout",
    "loc=%2Fhome%2Fdashboard; sidebar=collapsed",
    "utm=source%3Dnewsletter%7Cmedium%3Demail%7Ccampaign%3Dspring",
    "wp-settings-1=libraryContent%3Dbrowse%26editor%3Dtinymce; wp-settings-time-1=1714558530",
]

GRAPHQL = [
    "query GetUser($id: ID!) { user(id: $id) { id name email orders(first: 10) { edges { node { id total } } } } }",
    "mutation { updateProfile(input: {name: \"O'Brien\", bio: \"Likes SQL & coffee\"}) { ok } }",
    "{ products(filter: {price: {lt: 100}}, orderBy: {field: NAME, direction: ASC}) { name price } }",
    "query { search(term: \"union square\", first: 5) { ... on Place { name address } } }",
    "subscription { orderUpdated(id: \"A-1029\") { status updatedAt } }",
]


def pick_ua():
    return rng.choice(UAS)


def base_headers(extra=None):
    h = [["Host", "api.example.com"], ["User-Agent", pick_ua()], ["Accept", "application/json"]]
    if extra:
        h.extend(extra)
    return h


def q(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def form(params):
    return urllib.parse.urlencode(params)


def out(label, path, headers, query=None, body=None):
    r = {"label": label, "path": path, "headers": headers}
    if query is not None:
        r["query"] = query
    if body is not None:
        r["body"] = body
    print(json.dumps(r, ensure_ascii=False))


def json_body(obj):
    return json.dumps(obj, ensure_ascii=False)


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


CT_JSON = ["Content-Type", "application/json"]
CT_FORM = ["Content-Type", "application/x-www-form-urlencoded"]
CT_XML = ["Content-Type", "application/xml"]


def place_text(label, i, value, field):
    """Puts a free-text value where such text travels, rotating over locations."""
    kind = i % 6
    if kind == 0:
        out(label, "/v1/search", base_headers(), query=q({field: value, "page": str(1 + i % 5)}))
    elif kind == 1:
        out(label, "/v1/messages", base_headers([CT_FORM]), body=form({field: value, "channel": "web"}))
    elif kind == 2:
        out(label, "/v2/tickets", base_headers([CT_JSON]),
            body=json_body({"subject": value[:40], field: value, "tags": ["support"]}))
    elif kind == 3:
        out(label, "/v1/reviews", base_headers([CT_JSON]),
            body=json_body({"product_id": 1000 + i, "rating": 1 + i % 5, "review": {field: value}}))
    elif kind == 4:
        out(label, "/soap/notes", base_headers([CT_XML]),
            body=f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><note id=\"{i}\"><author>api</author><{field}>{xml_escape(value)}</{field}></note>")
    else:
        out(label, "/v1/comments", base_headers([CT_FORM]), body=form({"post_id": str(i), field: value}))


def main():
    for i, n in enumerate(NAMES):
        kind = i % 5
        if kind == 0:
            out("name", "/v1/customers", base_headers(), query=q({"name": n}))
        elif kind == 1:
            out("name", "/v1/customers", base_headers([CT_JSON]),
                body=json_body({"first_name": n.split(" ")[0], "full_name": n, "email": "someone@example.com"}))
        elif kind == 2:
            out("name", "/signup", base_headers([CT_FORM]), body=form({"name": n, "country": "IE"}))
        elif kind == 3:
            out("name", "/v1/customers/search", base_headers(), query=q({"q": n, "limit": "10"}))
        else:
            out("name", "/soap/customer", base_headers([CT_XML]),
                body=f"<customer><name>{xml_escape(n)}</name><nickname value=\"{xml_escape(n)}\"/></customer>")
    for i, p in enumerate(PROSE):
        place_text("prose", i, p, rng.choice(["message", "comment", "text", "description", "notes", "q"]))
    for i, m in enumerate(MARKDOWN):
        if i % 2 == 0:
            out("markdown html", "/v1/pages", base_headers([CT_JSON]),
                body=json_body({"title": f"Page {i}", "body_markdown": m, "published": i % 3 == 0}))
        else:
            out("markdown html", "/v1/issues/42/comments", base_headers([CT_JSON]), body=json_body({"body": m}))
    for i, c in enumerate(CODE):
        if i % 2 == 0:
            out("code snippet", "/v1/gists", base_headers([CT_JSON]),
                body=json_body({"description": f"snippet {i}", "public": True, "files": {"main": {"content": c}}}))
        else:
            out("code snippet", "/v1/cells", base_headers([CT_JSON]),
                body=json_body({"sheet": "Sheet1", "cell": f"B{i}", "value": c}))
    for i, p in enumerate(PATHS):
        kind = i % 3
        if kind == 0:
            out("file path", "/v1/files", base_headers(), query=q({"path": p}))
        elif kind == 1:
            out("file path", "/v1/files/move", base_headers([CT_JSON]), body=json_body({"from": p, "to": "archive/"}))
        else:
            out("file path", "/v1/sync", base_headers([CT_FORM]), body=form({"local_path": p, "overwrite": "false"}))
    for i, u in enumerate(URLS):
        kind = i % 4
        if kind == 0:
            out("url", "/v1/links", base_headers(), query=q({"url": u}))
        elif kind == 1:
            out("url", "/v1/webhooks", base_headers([CT_JSON]), body=json_body({"target_url": u, "events": ["order.created"]}))
        elif kind == 2:
            out("url", "/v1/bookmarks", base_headers([CT_FORM]), body=form({"href": u, "title": "saved link"}))
        else:
            out("url referer", "/v1/track", base_headers([["Referer", u]]), query=q({"event": "view"}))
    for i, b in enumerate(BLOBS):
        kind = i % 3
        if kind == 0:
            out("blob", "/v1/avatar", base_headers([CT_JSON]), body=json_body({"image": b, "filename": "me.png"}))
        elif kind == 1:
            out("blob", "/v1/keys", base_headers([CT_FORM]), body=form({"key": b, "label": "laptop"}))
        else:
            out("blob", "/v1/verify", base_headers(), query=q({"token": b}))
    for i, s in enumerate(JSON_QUOTES):
        out("json quotes", "/v1/notes", base_headers([CT_JSON]), body=json_body({"id": i, "text": s, "meta": {"raw": s}}))
    for i, m in enumerate(MISC):
        kind = i % 4
        field = rng.choice(["value", "filter", "sort", "q", "v", "expr", "input"])
        if kind == 0:
            out("misc value", "/v1/items", base_headers(), query=q({field: m}))
        elif kind == 1:
            out("misc value", "/v1/items", base_headers([CT_JSON]), body=json_body({field: m}))
        elif kind == 2:
            out("misc value", "/v1/items", base_headers([CT_FORM]), body=form({field: m}))
        else:
            out("misc value", f"/v1/items/{urllib.parse.quote(m, safe='')}", base_headers())
    for i, (k, v) in enumerate(HEADERS_EXTRA):
        out("custom header", "/v1/events", base_headers([[k, v]]), query=q({"n": str(i)}))
    for i, c in enumerate(COOKIES):
        out("cookie", "/v1/me", base_headers([["Cookie", c]]))
    for i, g in enumerate(GRAPHQL):
        out("graphql", "/graphql", base_headers([CT_JSON]), body=json_body({"query": g, "variables": {"id": str(i)}}))
    for i, ua in enumerate(UAS):
        out("user agent", "/v1/ping", [["Host", "api.example.com"], ["User-Agent", ua], ["Accept", "*/*"]])


if __name__ == "__main__":
    sys.exit(main())
