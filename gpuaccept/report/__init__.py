"""What the HTML report shows beyond pytest-html's own table: charts of the benchmark's samples."""
