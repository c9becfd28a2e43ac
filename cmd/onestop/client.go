package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
)

// clientFlags are what every cashier command needs to reach a gateway.
type clientFlags struct {
	addr        string
	token       string
	institution string
	json        bool
	timeout     time.Duration
	tlsCA       string // set any TLS flag and the connection is TLS
	cert, key   string
	tls         bool
}

func (f *clientFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:9090", "gateway gRPC address")
	cmd.Flags().StringVar(&f.token, "token", "", "terminal token (or ONESTOP_TOKEN)")
	cmd.Flags().StringVar(&f.institution, "institution", "", "institution id (or ONESTOP_INSTITUTION)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the answer as JSON")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of the call")
	cmd.Flags().BoolVar(&f.tls, "tls", false, "connect with TLS, the gateway verified against the system roots (implied by --tls-ca, --cert)")
	cmd.Flags().StringVar(&f.tlsCA, "tls-ca", "", "CA of the gateway's certificate, PEM (implies --tls)")
	cmd.Flags().StringVar(&f.cert, "cert", "", "terminal client certificate, PEM, instead of --token (implies --tls)")
	cmd.Flags().StringVar(&f.key, "key", "", "the client certificate's private key, PEM")
}

// dial connects and returns a context carrying the token, if any. Without TLS flags the
// connection is plaintext: for a gateway on this machine or behind a TLS-terminating proxy.
func (f *clientFlags) dial(cmd *cobra.Command) (*grpc.ClientConn, context.Context, context.CancelFunc, error) {
	if err := fromEnv(cmd.Flags()); err != nil {
		return nil, nil, nil, err
	}
	if (f.token == "" && f.cert == "") || f.institution == "" {
		return nil, nil, nil, fmt.Errorf("--institution and --token or --cert are required (or ONESTOP_INSTITUTION, ONESTOP_TOKEN, ONESTOP_CERT)")
	}
	creds := insecure.NewCredentials()
	if f.tls || f.tlsCA != "" || f.cert != "" || f.key != "" {
		cfg, err := api.ClientTLS(f.tlsCA, f.cert, f.key)
		if err != nil {
			return nil, nil, nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	if f.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.token)
	}
	return conn, ctx, cancel, nil
}

// credentialFlags name the patient.
type credentialFlags struct{ idCard, ssc, voucher string }

func (c *credentialFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.idCard, "id-card", "", "the patient's ID number")
	cmd.Flags().StringVar(&c.ssc, "ssc", "", "the patient's social-security card number")
	cmd.Flags().StringVar(&c.voucher, "voucher", "", "the patient's e-voucher token")
}

func (c *credentialFlags) credential() (*onestopv1.Credential, error) {
	var out []*onestopv1.Credential
	if c.idCard != "" {
		out = append(out, &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: c.idCard})
	}
	if c.ssc != "" {
		out = append(out, &onestopv1.Credential{Type: onestopv1.CredentialType_SOCIAL_SECURITY_CARD, Value: c.ssc})
	}
	if c.voucher != "" {
		out = append(out, &onestopv1.Credential{Type: onestopv1.CredentialType_E_VOUCHER, Value: c.voucher})
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("give exactly one of --id-card, --ssc, --voucher")
	}
	return out[0], nil
}

func settleCmd(pre bool) *cobra.Command {
	var cf clientFlags
	var cred credentialFlags
	var requestID, medType, date, admission, referral string
	var useAccount, confirmDuplicate bool
	var lines []string
	name, short := "settle", "Settle a bill (结算) and print the split"
	if pre {
		name, short = "presettle", "Pre-settle a bill (预结算): the split, nothing written"
	}
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cred.credential()
			if err != nil {
				return err
			}
			mt, ok := onestopv1.MedType_value[strings.ToUpper(medType)]
			if !ok {
				return fmt.Errorf("--med-type must be outpatient, chronic or inpatient")
			}
			req := &onestopv1.SettleRequest{
				RequestId: requestID, Credential: c, MedType: onestopv1.MedType(mt), SettleDate: date,
				AdmissionDate: admission, ReferralNo: referral, UseAccount: useAccount, ConfirmDuplicate: confirmDuplicate,
			}
			for _, l := range lines {
				bl, err := parseLineFlag(l)
				if err != nil {
					return err
				}
				req.Lines = append(req.Lines, bl)
			}
			if req.RequestId == "" && !pre {
				req.RequestId = newRequestID()
			}
			conn, ctx, cancel, err := cf.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer cancel()
			req.InstitutionId = cf.institution
			cli := onestopv1.NewSettlementServiceClient(conn)
			var resp *onestopv1.SettleResponse
			if pre {
				resp, err = cli.PreSettle(ctx, req)
			} else {
				resp, err = cli.Settle(ctx, req)
			}
			if err != nil {
				return callError(err)
			}
			return printAnswer(cmd.OutOrStdout(), cf.json, resp, func(w io.Writer) { writeSplit(w, resp) })
		},
	}
	cf.bind(cmd)
	cred.bind(cmd)
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key (default: a new random one; reuse it to retry)")
	cmd.Flags().StringVar(&medType, "med-type", "outpatient", "outpatient, chronic or inpatient")
	cmd.Flags().StringVar(&date, "date", "", "settlement date YYYY-MM-DD (default today)")
	cmd.Flags().StringVar(&admission, "admission", "", "admission date YYYY-MM-DD (inpatient)")
	cmd.Flags().StringVar(&referral, "referral", "R", "referral number; empty = not referred")
	cmd.Flags().BoolVar(&useAccount, "use-account", false, "let the personal account pay")
	cmd.Flags().BoolVar(&confirmDuplicate, "confirm-duplicate", false, "settle a bill held as POSSIBLE_DUPLICATE_BILL: the cashier checked it is a new one")
	cmd.Flags().StringArrayVar(&lines, "line", nil, "a bill line CODE:QUANTITY:UNIT_PRICE (repeat for each line)")
	return cmd
}

// parseLineFlag reads CODE:QUANTITY:UNIT_PRICE; the amount is quantity × price, half-up.
func parseLineFlag(s string) (*onestopv1.BillLine, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("--line %q: want CODE:QUANTITY:UNIT_PRICE", s)
	}
	q, err1 := decimal.NewFromString(parts[1])
	p, err2 := decimal.NewFromString(parts[2])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--line %q: quantity and unit price must be numbers", s)
	}
	return &onestopv1.BillLine{Code: parts[0], Quantity: parts[1], UnitPrice: parts[2], Amount: q.Mul(p).Round(2).StringFixed(2)}, nil
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

func cancelCmd() *cobra.Command {
	var cf clientFlags
	var requestID, reason string
	cmd := &cobra.Command{
		Use:   "cancel SETTLEMENT_ID",
		Short: "Cancel a settlement (结算撤销)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, ctx, cancel, err := cf.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer cancel()
			if requestID == "" {
				requestID = newRequestID()
			}
			resp, err := onestopv1.NewSettlementServiceClient(conn).CancelSettlement(ctx, &onestopv1.CancelSettlementRequest{
				RequestId: requestID, InstitutionId: cf.institution, SettlementId: args[0], Reason: reason,
			})
			if err != nil {
				return callError(err)
			}
			return printAnswer(cmd.OutOrStdout(), cf.json, resp, func(w io.Writer) {
				fmt.Fprintf(w, "settlement %s cancelled at %s%s\n", resp.SettlementId, resp.CancelledAt.AsTime().Local().Format(time.DateTime), replayedNote(resp.Replayed))
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
				for _, p := range resp.Reversed {
					fmt.Fprintf(tw, "%s\t%s\treturned to the fund\t\n", p.Fund, p.Amount)
				}
				fmt.Fprintf(tw, "account\t%s\treturned to the account\t\n", resp.AccountRefund)
				fmt.Fprintf(tw, "cash\t%s\trefunded to the patient\t\n", resp.CashRefund)
				tw.Flush()
			})
		},
	}
	cf.bind(cmd)
	cmd.Flags().StringVar(&requestID, "request-id", "", "idempotency key of the cancel (default: a new random one)")
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	return cmd
}

func eligibilityCmd() *cobra.Command {
	var cf clientFlags
	var cred credentialFlags
	var date string
	cmd := &cobra.Command{
		Use:   "eligibility",
		Short: "Who the patient is and what is left of this year (人员信息获取)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cred.credential()
			if err != nil {
				return err
			}
			conn, ctx, cancel, err := cf.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			defer cancel()
			resp, err := onestopv1.NewEligibilityServiceClient(conn).GetEligibility(ctx, &onestopv1.GetEligibilityRequest{
				InstitutionId: cf.institution, Credential: c, Date: date,
			})
			if err != nil {
				return callError(err)
			}
			return printAnswer(cmd.OutOrStdout(), cf.json, resp, func(w io.Writer) {
				p := resp.Person
				fmt.Fprintf(w, "%s  %s  %s/%s  insured in %s  policy %s\n", p.NameMasked, p.IdNumberMasked, p.Scheme, p.Status, p.InsuredRegion, resp.Policy.GetId())
				for _, c := range resp.Categories {
					fmt.Fprintf(w, "aid category %s from %s %s\n", c.Code, c.From, c.To)
				}
				fmt.Fprintf(w, "account available %s; chronic registered here: %v\n\n", resp.AccountBalance, resp.ChronicRegistered)
				writeRemaining(w, resp.Remaining)
			})
		},
	}
	cf.bind(cmd)
	cred.bind(cmd)
	cmd.Flags().StringVar(&date, "date", "", "YYYY-MM-DD (default today)")
	return cmd
}

func printAnswer(w io.Writer, asJSON bool, m proto.Message, table func(io.Writer)) error {
	if asJSON {
		b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	table(w)
	return nil
}

func writeSplit(w io.Writer, r *onestopv1.SettleResponse) {
	id := r.SettlementId
	if id == "" {
		id = "(pre-settlement, nothing stored)"
	}
	fmt.Fprintf(w, "settlement %s  %s%s\n", id, r.State, replayedNote(r.Replayed))
	fmt.Fprintf(w, "%s  %s  policy %s  %s\n\n", r.Person.GetNameMasked(), r.Person.GetIdNumberMasked(), r.Policy.GetId(), r.SettleDate)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "line\tclass\tamount\t")
	for _, l := range r.Lines {
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t\n", l.Code, l.Name, l.Class, l.Amount)
	}
	fmt.Fprintf(tw, "total\t\t%s\t\n\t\t\t\n", r.Total)
	fmt.Fprintln(tw, "fund\tcode\tpaid\tthreshold applied\tratio\tcategory\t")
	for _, p := range r.FundPayments {
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%s\t%s\t%s\t\n", p.Fund, p.Pool, p.FundCode, p.Amount, p.ThresholdApplied, p.Ratio, p.Category)
	}
	fmt.Fprintf(tw, "hospital\t\t%s\t\t\t\t\n", r.Hospital)
	fmt.Fprintf(tw, "personal account\t310200\t%s\t\t\t\t\n", r.Account)
	fmt.Fprintf(tw, "CASH\t\t%s\t\t\t\t\n", r.Cash)
	tw.Flush()
	fmt.Fprintf(w, "\n(excluded %s, over ceiling %s, first self-pay %s, within policy %s)\n\n", r.Excluded, r.Overlimit, r.Preselfpay, r.PolicyScope)
	writeRemaining(w, r.Remaining)
}

func writeRemaining(w io.Writer, rs []*onestopv1.PoolRemaining) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pool\tthreshold left\tcap left\t")
	for _, r := range rs {
		cap := "uncapped"
		if r.Capped {
			cap = r.CapRemaining
		}
		th := r.ThresholdRemaining
		if r.ThresholdKind == "per_visit" {
			th += " per visit"
		}
		fmt.Fprintf(tw, "%s.%s\t%s\t%s\t\n", r.Fund, r.Pool, th, cap)
	}
	tw.Flush()
}

func replayedNote(replayed bool) string {
	if replayed {
		return "  (REPLAYED: the stored answer to an earlier identical request)"
	}
	return ""
}

// callError prints a gateway refusal as its reason, field and message.
func callError(err error) error {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return fmt.Errorf("%s %s: %s", st.Code(), info.Reason, st.Message())
		}
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}
