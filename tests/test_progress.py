"""Progress in a log file: a few short lines, never one line of redraws."""
import logging

from mmengine.logging import MMLogger

from mmseg_zs3.utils.progress import Progress, track


def test_log_file_gets_quarter_lines(capsys, tmp_path):
    log_file = str(tmp_path / 'run.log')
    logger = MMLogger.get_instance(
        'test_progress', log_file=log_file, log_level=logging.INFO)
    items = list(track(range(10), description='scan', interactive=False))
    assert items == list(range(10))
    for handler in logger.handlers:
        handler.flush()
    text = open(log_file).read()
    assert '\r' not in text and '>>>' not in text
    lines = [line for line in text.splitlines() if 'scan:' in line]
    assert [line.split('scan: ')[1].split(' ')[0]
            for line in lines] == ['3/10', '5/10', '8/10', '10/10']
    assert '\r' not in capsys.readouterr().out


def test_terminal_gets_mmengines_bar(capsys):
    progress = Progress(3, interactive=True)
    for _ in range(3):
        progress.update()
    out = capsys.readouterr().out
    assert '3/3' in out and out.endswith('\n')


def test_empty_work_reports_nothing(capsys):
    assert list(track([], interactive=False)) == []
    assert capsys.readouterr().out == ''


def test_few_steps_log_each_line_once(log_messages):
    list(track(range(3), description='few', interactive=False))
    assert [m.split(' (')[0] for m in log_messages
            if 'few' in m] == ['few: 1/3', 'few: 2/3', 'few: 3/3']
