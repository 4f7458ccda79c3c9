"""`shopstorm completion bash`: the script, sourced in a real bash, completes subcommands, flags and targets."""

import shutil
import subprocess

import pytest

from shopstorm.cli import TARGET_NAMES
from shopstorm.journeys import SHOPPERS
from support import cli_env, shopstorm_command

COMPLETE = """
source <({command} completion bash)
complete_line() {{ COMP_LINE="$1"; read -ra COMP_WORDS <<< "$1"; [[ "$1" == *" " ]] && COMP_WORDS+=("");
  COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _shtab_shopstorm;
  echo "${{COMPREPLY[*]}}"; }}
complete_line "shopstorm con"
complete_line "shopstorm consistency --chec"
complete_line "shopstorm run che"
complete_line "shopstorm demo --tar"
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_flags_and_target_names():
    script = COMPLETE.format(command=" ".join(shopstorm_command()))
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=cli_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["consistency", "--checkouts", "checkout-api", "--target"], result.stdout


def test_the_completed_target_names_are_the_targets():
    assert TARGET_NAMES.split() == list(SHOPPERS)


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_the_other_shells_get_a_script_that_names_every_command(shell):
    result = subprocess.run(shopstorm_command("completion", shell), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("demo", "run", "consistency", "compare", "checkouts"):
        assert command in result.stdout
