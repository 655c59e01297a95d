"""The documentation's configuration table cannot drift from the programs: README.md's table of
variables must be exactly the union of `activity-api --help` and `activity-consumer --help`
(each row with the program that reads it), and .env.example must list every variable.

Needs only the two binaries (no broker, no database)."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("AT_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD_DIR = os.environ.get("AT_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
BINARIES = {"api": os.path.join(BUILD_DIR, "activity-api"),
            "consumer": os.path.join(BUILD_DIR, "src", "consumer", "activity-consumer")}
ROW = re.compile(r"^\| `([A-Z0-9_]+)` \|(.*)\|$")


def table_rows(text):
    """{variable: [cells...]} of every Markdown table row that starts with a `VARIABLE` cell."""
    rows = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split(" | ")]
    return rows


class ConfigurationDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in BINARIES.values():
            if not os.access(path, os.X_OK):
                print(f"SKIP: {path} is not built", file=sys.stderr)
                sys.exit(77)
        cls.help = {}
        for who, path in BINARIES.items():
            out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout
            cls.help[who] = table_rows(out)
        with open(os.path.join(SOURCE_DIR, "README.md"), encoding="utf-8") as f:
            cls.readme = table_rows(f.read())

    def test_docs_readme_table_is_the_union_of_both_help_tables(self):
        expected = {}
        for who, rows in self.help.items():
            for name, cells in rows.items():
                if name in expected:
                    self.assertEqual(expected[name][1:], cells, f"{name} differs between the two --help")
                    expected[name][0] = "both"
                else:
                    expected[name] = [who] + cells
        self.assertEqual(sorted(self.readme), sorted(expected),
                         "README.md's variables are not those the programs read")
        for name, cells in expected.items():
            self.assertEqual(self.readme[name], cells, f"README.md's row of {name} is out of date")

    def test_docs_env_example_lists_every_variable(self):
        with open(os.path.join(SOURCE_DIR, ".env.example"), encoding="utf-8") as f:
            listed = set(re.findall(r"^#? ?([A-Z0-9_]+)=", f.read(), re.M))
        missing = sorted(set(self.readme) - listed)
        self.assertEqual(missing, [], ".env.example does not mention these variables")


if __name__ == "__main__":
    unittest.main()
